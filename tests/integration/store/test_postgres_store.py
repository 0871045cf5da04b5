"""The state store's unit tests, run again on PostgreSQL (the scale-out backend)."""

from __future__ import annotations

import pytest

from tests.unit.store.test_jobs import (  # noqa: F401 - collected here against PostgreSQL
    test_a_dead_job_stops_blocking_its_key_and_can_be_retried,
    test_a_job_of_an_unclaimed_kind_still_blocks_its_key,
    test_a_keys_jobs_run_one_at_a_time_in_id_order,
    test_a_running_job_does_not_absorb_new_work,
    test_claim_respects_limit_and_priority,
    test_enqueue_commits_with_the_callers_transaction,
    test_expired_lease_is_reaped_and_the_job_rerun,
    test_fail_of_a_job_not_held_raises,
    test_failure_backs_off_exponentially_then_dead_letters,
    test_heartbeat_extends_the_lease,
    test_pending_job_absorbs_a_new_one_with_same_key_and_kind,
    test_purge_done_removes_only_old_finished_jobs,
    test_reaping_on_the_last_attempt_dead_letters,
    test_retry_in_overrides_the_backoff,
    test_run_after_delays_a_job,
)
from tests.unit.store.test_migrations import (  # noqa: F401
    test_new_database_matches_the_table_definitions,
    test_newer_database_is_refused_naming_both_versions,
    test_older_database_is_migrated_keeping_its_data,
    test_reopening_is_a_no_op,
)
from tests.unit.store.test_repositories import (  # noqa: F401
    test_audit_appends_and_lists_a_records_history,
    test_conflicts_park_once_per_field_and_resolve,
    test_cursors_get_put_reset,
    test_golden_record_put_refuses_a_stale_version,
    test_golden_record_round_trips_with_provenance_and_versions,
    test_golden_records_put_many_writes_a_batch_and_refuses_it_whole_when_one_is_stale,
    test_identity_map_links_looks_up_both_ways_and_unlinks,
    test_identity_map_repoints_links_on_a_merge,
    test_shadow_round_trips_values_and_hashes_them,
    test_sync_errors_count_repeats_and_clear,
)

pytestmark = pytest.mark.postgres
