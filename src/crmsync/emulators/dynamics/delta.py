"""Delta reads: GET of a `@odata.deltaLink` (changed rows, then `$deletedEntity` rows) and `$count` of changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import PlainTextResponse, Response

from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.context import Call, odata_json
from crmsync.emulators.dynamics.options import QueryOptions, link, make_skiptoken, parse_skiptoken
from crmsync.emulators.dynamics.schema import Table
from crmsync.emulators.dynamics.tracking import DeltaToken, changes_since, current_token, from_carry, parse_token

if TYPE_CHECKING:
    from crmsync.emulators.dynamics.records import RecordHandlers


def _entries(handlers: RecordHandlers, table: Table, token: DeltaToken) -> list[str]:
    updated, deleted = changes_since(handlers.state, table, token)
    return [*(f"u{r.id}" for r in updated), *(f"d{r.id}" for r in deleted)]


def delta_response(handlers: RecordHandlers, call: Call, table: Table, options: QueryOptions) -> Response:
    state = handlers.state
    for option in ("$filter", "$orderby", "$expand", "$top"):
        if options.has(option):
            errors.bad_request(f'The "{option}" query parameter isn\'t supported when Change Tracking is enabled')
    token = parse_token(state, options.deltatoken or "")
    max_size = state.config.max_page_size
    requested = call.prefer.max_page_size
    page_size = max_size if requested is None or requested <= 0 or requested > max_size else requested
    offset = 0
    entries: list[str] | None = None
    snapshot_id = ""
    next_token: DeltaToken | None = None
    page_number = 1
    if options.skiptoken is not None:
        page_number, payload = parse_skiptoken(options.skiptoken)
        position, _, carry = payload.partition("~")
        snapshot_id, _, offset_text = position.partition(":")
        next_token = from_carry(carry)
        if not offset_text.isdigit() or next_token is None:
            errors.query_error("The $skiptoken value is not a valid paging cookie.")
        offset = int(offset_text)
        entries = state.snapshot(snapshot_id)
    if entries is None or next_token is None:
        next_token = next_token or current_token(state)
        entries = _entries(handlers, table, token)
        snapshot_id = state.keep_snapshot(entries)
    collection = state.collection(table)
    renderer = handlers.renderer(call, table, options)
    rows: list[dict[str, Any]] = []
    deleted_context = f"{call.api_root}/$metadata#{table.entity_set}/$deletedEntity"
    position_now = offset
    while position_now < len(entries) and len(rows) < page_size:
        entry = entries[position_now]
        position_now += 1
        record = collection.get(entry[1:], include_deleted=True)
        if record is None:
            continue
        if entry[0] == "u" and record.deleted_ms is None:
            rows.append(renderer.row(record))
        elif entry[0] == "d" or record.deleted_ms is not None:
            rows.append({"@odata.context": deleted_context, "id": record.id, "reason": "deleted"})
    body: dict[str, Any] = {
        "@odata.context": handlers.context_url(call, table, options, "/$delta"),
        "value": rows,
    }
    base_pairs = [(k, v) for k, v in call.query if k not in ("$skiptoken", "$deltatoken")]
    if position_now < len(entries):
        cookie = make_skiptoken(page_number + 1, f"{snapshot_id}:{position_now}~{next_token.carry()}", True)
        body["@odata.nextLink"] = link(
            call.api_root,
            table.entity_set,
            [*base_pairs, ("$deltatoken", options.deltatoken or ""), ("$skiptoken", cookie)],
        )
    else:
        body["@odata.deltaLink"] = link(
            call.api_root, table.entity_set, [*base_pairs, ("$deltatoken", next_token.render())]
        )
    call.records = len(rows)
    return odata_json(body, headers=handlers.prefer_applied(call, requested))


def delta_count(handlers: RecordHandlers, table: Table, options: QueryOptions) -> Response:
    token = parse_token(handlers.state, options.deltatoken or "")
    return PlainTextResponse(str(len(_entries(handlers, table, token))), headers=errors.ODATA_HEADERS)
