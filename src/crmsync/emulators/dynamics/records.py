"""Entity-set and single-record handlers: list, create, read, update/upsert, delete, single columns, `$ref`."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import PlainTextResponse, Response

from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.context import Call, no_content, odata_json
from crmsync.emulators.dynamics.listing import read_page, with_carry
from crmsync.emulators.dynamics.options import QueryOptions, cached_options, link, parse_options
from crmsync.emulators.dynamics.paths import Key, parse_key, reference_path, split_key
from crmsync.emulators.dynamics.render import Renderer, etag
from crmsync.emulators.dynamics.responses import JSON_MINIMAL, ODataResponse
from crmsync.emulators.dynamics.schema import Table
from crmsync.emulators.dynamics.state import DataverseState
from crmsync.emulators.dynamics.tracking import current_token, from_carry
from crmsync.emulators.dynamics.writes import Writer

TRACKING_REJECTS = ("$filter", "$orderby", "$expand", "$top")


class RecordHandlers:
    def __init__(self, state: DataverseState, writer: Writer) -> None:
        self.state = state
        self.writer = writer
        self._renderers: dict[tuple[int, bool, bool], tuple[QueryOptions, Renderer]] = {}

    # ---- helpers ----------------------------------------------------------------------------
    def renderer(self, call: Call, table: Table, options: QueryOptions) -> Renderer:
        prefer = call.prefer
        formatted_values = prefer.formatted_values
        lookup_annotations = prefer.lookup_annotations
        # Options are shared (memoised) between calls, so the projection planned for them can be too.
        key = (id(options), formatted_values, lookup_annotations)
        found = self._renderers.get(key)
        if found is not None and found[0] is options and found[1].columns_count == len(table.columns):
            return found[1]
        renderer = Renderer(
            self.state,
            table,
            options.select,
            formatted_values=formatted_values,
            lookup_annotations=lookup_annotations,
        )
        if len(self._renderers) >= 256:
            self._renderers.clear()
        self._renderers[key] = (options, renderer)
        return renderer

    def context_url(self, call: Call, table: Table, options: QueryOptions, suffix: str = "") -> str:
        selected = f"({','.join(options.select_names)})" if options.select_names else ""
        return f"{call.api_root}/$metadata#{table.entity_set}{selected}{suffix}"

    def entity_id_url(self, call: Call, table: Table, record_id: str) -> str:
        return f"{call.api_root}/{table.entity_set}({record_id})"

    def locate(self, table: Table, key: Key) -> StoredRecord | None:
        if key.record_id is not None:
            return self.state.collection(table).get(key.record_id)
        return self.state.find_by_key(table, key.alternate or {})

    def require(self, table: Table, key: Key) -> StoredRecord:
        record = self.locate(table, key)
        if record is None:
            if key.record_id is not None:
                errors.not_found(table.logical_name, key.record_id)
            errors.key_not_found(table.logical_name)
        return record

    def expand(
        self, call: Call, table: Table, options: QueryOptions, record: StoredRecord, row: dict[str, Any]
    ) -> None:
        for nav, select in options.expand:
            column_name, target = table.navs[nav]
            target_table = self.state.tables[target]
            value = record.fields.get(column_name)
            chosen = None
            if value is not None and (
                len(table.columns[column_name].targets) == 1 or record.fields.get(f"{column_name}@lt") == target
            ):
                chosen = self.state.collection(target_table).get(value)
            if chosen is None:
                row[nav] = None
                continue
            columns = None
            if select:
                sub = parse_options(target_table, [("$select", ",".join(select))])
                columns = sub.select
            row[nav] = Renderer(self.state, target_table, columns).row(chosen)

    def prefer_applied(self, call: Call, page_size: int | None) -> dict[str, str]:
        applied: list[str] = []
        prefer = call.prefer
        if page_size is not None:
            applied.append(f"odata.maxpagesize={page_size}")
        if prefer.annotations:
            applied.append(f'odata.include-annotations="{prefer.annotations}"')
        if prefer.track_changes:
            applied.append("odata.track-changes")
        return {"Preference-Applied": ",".join(applied)} if applied else {}

    # ---- collection -------------------------------------------------------------------------
    def list(self, call: Call, table: Table) -> Response:
        options = cached_options(table, call.query)
        prefer = call.prefer
        if options.deltatoken is not None:
            from crmsync.emulators.dynamics.delta import delta_response

            return delta_response(self, call, table, options)
        if prefer.track_changes:
            for option in TRACKING_REJECTS:
                if options.has(option):
                    errors.bad_request(
                        f'The "{option}" query parameter isn\'t supported when Change Tracking is enabled'
                    )
        max_size = self.state.config.max_page_size
        requested = prefer.max_page_size
        page_size = max_size if requested is None or requested <= 0 or requested > max_size else requested
        page = read_page(self.state, table, options, page_size, tracking=prefer.track_changes)
        renderer = self.renderer(call, table, options)
        rows = [renderer.row(r) for r in page.records]
        if options.expand:
            for record, row in zip(page.records, rows, strict=True):
                self.expand(call, table, options, record, row)
        body: dict[str, Any] = {"@odata.context": self.context_url(call, table, options)}
        if page.count is not None:
            body["@odata.count"] = page.count
            if page.count_capped or prefer.annotations:
                body["@Microsoft.Dynamics.CRM.totalrecordcount"] = -1 if page.count_capped else page.count
                body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = page.count_capped
        body["value"] = rows
        base_pairs = [(k, v) for k, v in call.query if k != "$skiptoken"]
        carry = page.carry
        if prefer.track_changes and not carry:
            carry = current_token(self.state).carry()
        token = with_carry(page.next_skiptoken, carry if prefer.track_changes else "")
        if token is not None:
            body["@odata.nextLink"] = link(call.api_root, table.entity_set, [*base_pairs, ("$skiptoken", token)])
        elif prefer.track_changes:
            start = from_carry(carry) or current_token(self.state)
            body["@odata.deltaLink"] = link(
                call.api_root, table.entity_set, [*base_pairs, ("$deltatoken", start.render())]
            )
        call.records = len(rows)
        return odata_json(body, headers=self.prefer_applied(call, requested if requested is not None else None))

    def count(self, call: Call, table: Table) -> Response:
        options = cached_options(table, call.query)
        if options.deltatoken is not None:
            from crmsync.emulators.dynamics.delta import delta_count

            return delta_count(self, table, options)
        total = 0
        if options.filter is None:
            total = len(self.state.collection(table))
        else:
            predicate = options.filter.predicate
            total = sum(1 for r in self.state.collection(table).scan() if predicate(r))
        return PlainTextResponse(str(min(total, 5000)), headers=errors.ODATA_HEADERS)

    def create(self, call: Call, table: Table) -> Response:
        body = call.json_body(table.entity_set)
        changes = self.writer.parse(table, body, creating=True, refs=call.refs)
        record = self.writer.create(table, changes, principal=call.principal)
        call.records = 1
        return self.written(call, table, record, created=True)

    def written(self, call: Call, table: Table, record: StoredRecord, *, created: bool) -> Response:
        url = f"{call.api_root}/{table.entity_set}({record.id})"
        if call.prefer.return_representation:
            options = cached_options(table, call.query)
            body = {"@odata.context": self.context_url(call, table, options, "/$entity")}
            body.update(self.renderer(call, table, options).row(record))
            headers = {
                "OData-Version": "4.0",
                "OData-EntityId": url,
                "Location": url,
                "Preference-Applied": "return=representation",
                "ETag": etag(record),
            }
            return ODataResponse(orjson.dumps(body), 201 if created else 200, headers, JSON_MINIMAL)
        return ODataResponse(b"", 204, {"OData-Version": "4.0", "OData-EntityId": url, "Location": url})

    # ---- single record ----------------------------------------------------------------------
    def get(self, call: Call, table: Table, key: Key) -> Response:
        options = cached_options(table, call.query)
        record = self.require(table, key)
        tag = etag(record)
        if_none = call.headers.get("if-none-match")
        conditional = bool(if_none) and if_none != "null" and not options.expand and not call.prefer.annotations
        if conditional and tag in [t.strip() for t in (if_none or "").split(",")]:
            return no_content({"ETag": tag}, status=304)
        row = self.renderer(call, table, options).row(record)
        if options.expand:
            self.expand(call, table, options, record, row)
        call.records = 1
        body = {"@odata.context": self.context_url(call, table, options, "/$entity"), **row}
        return odata_json(body, headers={"ETag": tag, **self.prefer_applied(call, None)})

    def check_if_match(self, call: Call, record: StoredRecord | None, table: Table, key: Key) -> None:
        if_match = call.headers.get("if-match")
        if not if_match:
            return
        if record is None:
            if key.record_id is not None:
                errors.not_found(table.logical_name, key.record_id)
            errors.key_not_found(table.logical_name)
        if if_match.strip() != "*" and etag(record) not in [t.strip() for t in if_match.split(",")]:
            errors.version_mismatch()

    def patch(self, call: Call, table: Table, key: Key) -> Response:
        body = call.json_body(table.entity_set)
        record = self.locate(table, key)
        self.check_if_match(call, record, table, key)
        if call.headers.get("if-none-match", "").strip() == "*" and record is not None:
            errors.duplicate_key()
        call.records = 1
        if record is not None:
            changes = self.writer.parse(table, body, creating=False, refs=call.refs)
            for name in key.alternate or {}:
                changes.pop(name, None)  # key columns are stripped from an upsert that updates
            updated = self.writer.update(table, record, changes, principal=call.principal)
            return self.written(call, table, updated, created=False)
        changes = self.writer.parse(table, body, creating=True, refs=call.refs)
        for name, value in (key.alternate or {}).items():
            changes.setdefault(name, self.writer.coerce(table, table.columns[name], value))
        created = self.writer.create(table, changes, principal=call.principal, record_id=key.record_id)
        return self.written(call, table, created, created=True)

    def delete(self, call: Call, table: Table, key: Key) -> Response:
        record = self.locate(table, key)
        self.check_if_match(call, record, table, key)
        if record is None:
            self.require(table, key)
        assert record is not None
        self.writer.delete(table, record, principal=call.principal)
        call.records = 1
        return no_content()

    # ---- single column and single-valued navigation -----------------------------------------
    def property(self, call: Call, table: Table, key: Key, name: str, ref: bool) -> Response:
        record = self.require(table, key)
        nav = table.navs.get(name)
        if nav is not None:
            return self._nav_ref(call, table, record, name, nav, ref)
        if ref:
            errors.no_property(table.logical_name, name)
        column = table.properties.get(name)
        if column is None:
            errors.no_property(table.logical_name, name)
        if call.method == "GET":
            row = Renderer(self.state, table, [column]).row(record)
            value = row.get(name)
            if value is None:
                return no_content()
            return odata_json(
                {"@odata.context": f"{call.api_root}/$metadata#{table.entity_set}({record.id})/{name}", "value": value}
            )
        if column.is_lookup:
            errors.bad_request(f"The lookup '{name}' is written through its navigation property.")
        if call.method == "PUT":
            body = call.json_body(table.entity_set)
            if not isinstance(body, dict) or "value" not in body:
                errors.payload_error(table.entity_set, "A property value payload must be an object with a 'value'.")
            changes = self.writer.parse(table, {name: body["value"]}, creating=False, refs=call.refs)
        elif call.method == "DELETE":
            changes = self.writer.parse(table, {name: None}, creating=False, refs=call.refs)
        else:
            errors.fail(405, errors.QUERY, f"The HTTP method '{call.method}' is not allowed for a property.")
        self.writer.update(table, record, changes, principal=call.principal)
        call.records = 1
        return no_content()

    def _nav_ref(
        self, call: Call, table: Table, record: StoredRecord, nav: str, target_nav: tuple[str, str], ref: bool
    ) -> Response:
        column_name, target = target_nav
        if call.method == "GET":
            value = record.fields.get(column_name)
            if value is None:
                return no_content()
            target_table = self.state.tables[target]
            if ref:
                return odata_json(
                    {
                        "@odata.context": f"{call.api_root}/$metadata#$ref",
                        "@odata.id": f"{call.api_root}/{target_table.entity_set}({value})",
                    }
                )
            found = self.state.collection(target_table).get(value)
            if found is None:
                return no_content()
            row = Renderer(self.state, target_table, None).row(found)
            return odata_json({"@odata.context": f"{call.api_root}/$metadata#{target_table.entity_set}/$entity", **row})
        if not ref:
            errors.bad_request(f"Use '{nav}/$ref' to change a navigation property.")
        if call.method == "PUT":
            body = call.json_body(table.entity_set)
            if not isinstance(body, dict) or not isinstance(body.get("@odata.id"), str):
                errors.payload_error(table.entity_set, "A $ref payload must be an object with an '@odata.id' URL.")
            changes = self.writer.parse(table, {f"{nav}@odata.bind": body["@odata.id"]}, creating=False, refs=call.refs)
        elif call.method == "DELETE":
            changes = self.writer.parse(table, {f"{nav}@odata.bind": None}, creating=False, refs=call.refs)
        else:
            errors.fail(405, errors.QUERY, f"The HTTP method '{call.method}' is not allowed for a $ref.")
        self.writer.update(table, record, changes, principal=call.principal)
        call.records = 1
        return no_content()


def split_entity(state: DataverseState, segment: str) -> tuple[Table, Key | None]:
    name, key_text = split_key(segment)
    table = state.table_for_set(name)
    return table, (parse_key(table, key_text) if key_text is not None else None)


__all__ = ["RecordHandlers", "reference_path", "split_entity"]
