"""The state store's unit tests, run again on PostgreSQL (the scale-out backend)."""

from __future__ import annotations

import asyncio

import pytest

from crmsync.model.values import CanonicalRecord
from crmsync.store import GoldenRecord, StaleRecordError, Store, open_store
from tests.integration.store.pg_locks import someone_waits_for_a_row
from tests.unit.store.test_jobs import (  # noqa: F401 - collected here against PostgreSQL
    test_a_dead_job_retried_while_a_later_job_of_its_key_runs_waits_for_it,
    test_a_dead_job_stops_blocking_its_key_and_can_be_retried,
    test_a_failed_job_takes_in_the_newer_job_queued_while_it_ran,
    test_a_job_of_an_unclaimed_kind_still_blocks_its_key,
    test_a_keys_jobs_run_one_at_a_time_in_id_order,
    test_a_running_job_does_not_absorb_new_work,
    test_claim_respects_limit_and_priority,
    test_dead_jobs_of_one_key_and_kind_go_back_as_one_with_the_newest_change,
    test_enqueue_commits_with_the_callers_transaction,
    test_expired_lease_is_reaped_and_the_job_rerun,
    test_fail_of_a_job_not_held_raises,
    test_failure_backs_off_exponentially_then_dead_letters,
    test_heartbeat_extends_the_lease,
    test_pending_job_absorbs_a_new_one_with_same_key_and_kind,
    test_purge_done_removes_only_old_finished_jobs,
    test_reaping_on_the_last_attempt_dead_letters,
    test_released_and_reaped_jobs_take_in_the_newer_job_of_their_key,
    test_retry_in_overrides_the_backoff,
    test_run_after_delays_a_job,
    test_the_jobs_of_a_gone_holder_take_in_the_newer_job_of_their_key,
)
from tests.unit.store.test_migrations import (  # noqa: F401
    test_a_schema_9_database_gets_an_empty_read_fields_table_and_keeps_its_cursors,
    test_a_schema_11_database_gets_an_empty_kept_out_table,
    test_a_schema_13_database_finds_a_former_id_through_an_index,
    test_audit_rows_of_schema_6_count_one_change_each_after_the_upgrade,
    test_going_back_to_schema_6_gives_each_grouped_change_its_own_row,
    test_going_back_to_schema_10_keeps_the_sync_errors,
    test_new_database_matches_the_table_definitions,
    test_newer_database_is_refused_naming_both_versions,
    test_older_database_is_migrated_keeping_its_data,
    test_pending_jobs_of_one_key_and_kind_of_schema_7_are_folded_into_the_oldest,
    test_reopening_is_a_no_op,
    test_sync_errors_of_schema_10_keep_rows_and_indexes_and_their_ids_are_never_reused,
)
from tests.unit.store.test_repositories import (  # noqa: F401
    test_a_cleared_sync_errors_id_is_never_given_to_another,
    test_a_write_that_replaced_a_value_clears_the_read_errors_about_it,
    test_audit_appends_and_lists_a_records_history,
    test_changes_of_a_record_made_at_once_share_an_audit_row_and_read_back_one_by_one,
    test_conflicts_park_once_per_field_and_resolve,
    test_cursors_get_put_reset,
    test_golden_record_put_refuses_a_stale_version,
    test_golden_record_round_trips_with_provenance_and_versions,
    test_golden_records_put_many_writes_a_batch_and_refuses_it_whole_when_one_is_stale,
    test_identity_map_links_looks_up_both_ways_and_unlinks,
    test_identity_map_repoints_links_on_a_merge,
    test_kept_out_records_are_found_by_the_key_they_hold_now_first_met_first,
    test_linked_values_pages_a_connections_links_with_their_shadows_link_fields,
    test_read_fields_are_kept_per_connection_and_object_as_a_set,
    test_shadow_round_trips_values_and_hashes_them,
    test_sync_errors_count_repeats_and_clear,
    test_sync_errors_follow_records_that_leave_a_crm_or_a_canonical_record,
    test_sync_errors_replace_keeps_each_problem_met_and_clears_the_ones_gone,
    test_sync_errors_replace_settles_the_operations_it_is_given_only,
)

pytestmark = pytest.mark.postgres


async def test_a_golden_record_two_transactions_create_at_once_is_stale_for_the_second(
    store: Store, store_url: str
) -> None:
    """Two workers meeting one new person: the same deterministic id, created by whichever commits first.

    The second learns it as a stale write, which its reconcile retries (finding the record), rather than as a
    unique violation that would fail its whole pass.
    """
    other = await open_store(store_url, migrate_schema=False)
    record = CanonicalRecord("c-new", "contact", {"email": "new@x.io"})
    try:
        async with store.begin() as first:
            await first.records.put_many([GoldenRecord(record)])

            async def create_too() -> None:
                async with other.begin() as second:
                    await second.records.put_many([GoldenRecord(record)])

            creating = asyncio.create_task(create_too())
            while not await someone_waits_for_a_row(store):
                assert not creating.done(), "the second insert did not wait for the first transaction"
        with pytest.raises(StaleRecordError, match="created meanwhile"):
            await creating
        async with store.read() as tx:
            assert (await tx.records.get_many(["c-new"]))["c-new"].version == 1
            assert await tx.records.existing(["c-new", "c-none"]) == {"c-new"}
    finally:
        await other.aclose()
