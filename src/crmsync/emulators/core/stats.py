"""Request statistics (calls per operation, records per call) so benchmarks can count API calls."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class OpStats:
    calls: int = 0
    records: int = 0
    max_records: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "calls": self.calls,
            "records": self.records,
            "max_records_per_call": self.max_records,
            "records_per_call": round(self.records / self.calls, 2) if self.calls else 0.0,
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
        }


class RequestStats:
    def __init__(self) -> None:
        self.ops: dict[str, OpStats] = {}

    def record(self, op: str, status: int, records: int) -> None:
        stats = self.ops.get(op)
        if stats is None:
            stats = self.ops[op] = OpStats()
        stats.calls += 1
        stats.records += records
        stats.max_records = max(stats.max_records, records)
        stats.statuses[status] = stats.statuses.get(status, 0) + 1

    def reset(self) -> None:
        self.ops.clear()

    def snapshot(self) -> dict[str, object]:
        total_calls = sum(op.calls for op in self.ops.values())
        total_records = sum(op.records for op in self.ops.values())
        return {
            "total_calls": total_calls,
            "total_records": total_records,
            "operations": {name: op.as_dict() for name, op in sorted(self.ops.items())},
        }
