"""quick_init builds the same objects as the dataclass's own __init__, and refuses what it does not reproduce."""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError, InitVar, dataclass, field

import pytest

from crmsync.model.quick import quick_init


@dataclass(frozen=True, slots=True)
class Plain:
    value: object
    source: str | None = None
    tags: dict[str, int] = field(default_factory=dict)


@quick_init
@dataclass(frozen=True, slots=True)
class Quick:
    value: object
    source: str | None = None
    tags: dict[str, int] = field(default_factory=dict)


@quick_init
@dataclass(frozen=True, slots=True)
class Checked:
    value: int

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("negative")


def as_plain(quick: Quick) -> Plain:
    return Plain(*(getattr(quick, f.name) for f in dataclasses.fields(quick)))


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((1,), {}),
        ((1, "a"), {}),
        ((1, "a", {"x": 1}), {}),
        ((), {"value": 2, "tags": {"y": 2}}),
        ((3,), {"source": "b"}),
    ],
)
def test_it_builds_what_the_dataclass_init_builds(args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    assert as_plain(Quick(*args, **kwargs)) == Plain(*args, **kwargs)  # type: ignore[arg-type]


def test_a_default_factory_gives_each_object_its_own_value() -> None:
    first, second = Quick(1), Quick(1)
    assert first.tags == {} and first.tags is not second.tags


def test_the_object_stays_frozen_hashable_and_replaceable() -> None:
    quick = Quick(1, "a")
    with pytest.raises(FrozenInstanceError):
        quick.value = 2  # type: ignore[misc]
    assert quick == Quick(1, "a") and quick != Quick(1, "b")
    assert hash(Checked(1)) == hash(Checked(1))
    assert dataclasses.replace(quick, source="b") == Quick(1, "b")
    assert repr(quick) == "Quick(value=1, source='a', tags={})"


def test_post_init_still_runs() -> None:
    with pytest.raises(ValueError, match="negative"):
        Checked(-1)
    assert Checked(1).value == 1


def test_missing_and_unknown_arguments_are_refused_as_by_any_function() -> None:
    with pytest.raises(TypeError, match="value"):
        Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="colour"):
        Quick(1, colour="red")  # type: ignore[call-arg]


def test_classes_whose_init_is_not_the_plain_one_are_refused() -> None:
    @dataclass(frozen=True, slots=True)
    class KeywordOnly:
        value: int = field(kw_only=True)

    @dataclass(frozen=True, slots=True)
    class InitOnly:
        value: int
        scale: InitVar[int]

    @dataclass(frozen=True)
    class Unslotted:
        value: int

    @dataclass(slots=True)
    class Mutable:
        value: int

    for cls in (KeywordOnly, InitOnly, Unslotted, Mutable):
        with pytest.raises(TypeError, match=cls.__name__):
            quick_init(cls)
