"""Metadata endpoints: versions, resources, limits, describe global, basic info and object describe."""

from __future__ import annotations

from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.core.http import base_url, json_response, note
from crmsync.emulators.salesforce.api import DATA, Ctx, routes
from crmsync.emulators.salesforce.describe import basic_info, describe, global_entry

if TYPE_CHECKING:
    from crmsync.emulators.salesforce.vendor import SalesforceVendor

_RELEASES = ("Winter", "Spring", "Summer")
# Every allocation a recent org reports; only DailyApiRequests is enforced by the emulator.
_OTHER_LIMITS = (
    "AnalyticsExternalDataSizeMB CdpAiInferenceApiMonthlyLimit ConcurrentAsyncGetReportInstances "
    "ConcurrentEinsteinDataInsightsStoryCreation ConcurrentEinsteinDiscoveryStoryCreation "
    "ConcurrentSyncReportRuns ContentDistBandwidthLimitMB ContentDistViewLimit ContentPublicationLimit "
    "DailyAnalyticsDataflowJobExecutions DailyAnalyticsUploadedFilesSizeMB DailyApexCursorLimit "
    "DailyApexCursorRowsLimit DailyApexPCursorLimit DailyApiRequests DailyAsyncApexExecutions "
    "DailyAsyncApexTests DailyBulkApiBatches DailyBulkV2QueryFileStorageMB DailyBulkV2QueryJobs "
    "DailyDeliveredPlatformEvents DailyDurableGenericStreamingApiEvents DailyDurableStreamingApiEvents "
    "DailyEinsteinDataInsightsStoryCreation DailyEinsteinDiscoveryOptimizationJobRuns "
    "DailyEinsteinDiscoveryPredictAPICalls DailyEinsteinDiscoveryPredictionsByCDC "
    "DailyEinsteinDiscoveryStoryCreation DailyFunctionsApiCallLimit DailyGenericStreamingApiEvents "
    "DailyMetadataRetrievesWithDependencies DailyServiceEmailAgentforceCalls "
    "DailyStandardVolumePlatformEvents DailyStreamingApiEvents DailyWorkflowEmails DataStorageMB "
    "DurableStreamingApiConcurrentClients ExternalServicesActiveObjects ExternalServicesActiveOperations "
    "ExternalServicesObjectProperties ExternalServicesObjects ExternalServicesOperations "
    "ExternalServicesRegistrations FileStorageMB HourlyAsyncReportRuns HourlyDashboardRefreshes "
    "HourlyDashboardResults HourlyDashboardStatuses HourlyElevateAsyncReportRuns "
    "HourlyElevateSyncReportRuns HourlyLongTermIdMapping HourlyManagedContentPublicRequests "
    "HourlyODataCallout HourlyPublishedPlatformEvents HourlyPublishedStandardVolumePlatformEvents "
    "HourlyShortTermIdMapping HourlySyncReportRuns HourlyTimeBasedWorkflow MassEmail "
    "MaxContentDocumentsLimit MonthlyEinsteinDiscoveryStoryCreation Package2VersionCreates "
    "Package2VersionCreatesWithoutValidation PermissionSets PlatformEventTriggersWithParallelProcessing "
    "PrivateConnectOutboundCalloutHourlyLimitMB PublishCallbackUsageInApex ScheduledFlowRunLimit "
    "ScheduledPathRunLimit SingleEmail StreamingApiConcurrentClients "
).split()


def version_label(major: int) -> str:
    """v20.0 was Winter '11; three releases a year since."""
    index = major - 20
    year = 11 + index // 3
    return f"{_RELEASES[index % 3]} '{year:02d}"


def version_list(vendor: SalesforceVendor) -> list[dict[str, str]]:
    low, high = int(vendor.config.min_api_version), int(vendor.config.max_api_version)
    return [
        {"label": version_label(major), "url": f"/services/data/v{major}.0", "version": f"{major}.0"}
        for major in range(low, high + 1)
    ]


def meta_routes(vendor: SalesforceVendor) -> list[BaseRoute]:
    async def versions(request: Request) -> Response:
        note(request, op="versions")
        return json_response(version_list(vendor))

    async def resources(ctx: Ctx) -> Response:
        base = f"/services/data/{ctx.version}"
        names = (
            "tooling metadata eclair folders prechatForms contact-tracing jsonxform chatter tabs appMenu "
            "quickActions queryAll commerce wave iot analytics search identity composite parameterizedSearch "
            "fingerprint theme nouns domino event-relay serviceTemplates recent connect licensing limits "
            "process async-queries query jobs match emailConnect compactLayouts knowledgeManagement sobjects "
            "actions support"
        ).split()
        body = {name: f"{base}/{name}" for name in names}
        body["identity"] = (
            f"{ctx.request.url.scheme}://{ctx.request.headers.get('host', '')}/id/{ctx.org.org_id}/{ctx.user}"
        )
        return json_response(body)

    async def limits(ctx: Ctx) -> Response:
        budget = vendor.budget
        daily: dict[str, Any] = {"Max": budget.limit, "Remaining": budget.remaining()}
        body: dict[str, Any] = {name: {"Max": 1000, "Remaining": 1000} for name in _OTHER_LIMITS}
        body["PermissionSets"] = {"Max": 1500, "Remaining": 1500, "CreateCustom": {"Max": 1000, "Remaining": 1000}}
        body |= {
            "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
            "ConcurrentSyncReportRuns": {"Max": 20, "Remaining": 20},
            "DailyApiRequests": daily,
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DailyDurableStreamingApiEvents": {"Max": 10000, "Remaining": 10000},
            "DailyGenericStreamingApiEvents": {"Max": 10000, "Remaining": 10000},
            "DailyStreamingApiEvents": {"Max": 10000, "Remaining": 10000},
            "DailyWorkflowEmails": {"Max": 2000, "Remaining": 2000},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
            "HourlyTimeBasedWorkflow": {"Max": 1000, "Remaining": 1000},
            "MassEmail": {"Max": 10, "Remaining": 10},
            "SingleEmail": {"Max": 15, "Remaining": 15},
            "StreamingApiConcurrentClients": {"Max": 20, "Remaining": 20},
        }
        return json_response(body)

    async def global_describe(ctx: Ctx) -> Response:
        objects = [global_entry(obj, ctx.version) for obj in ctx.org.objects.values()]
        return json_response({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objects})

    async def object_info(ctx: Ctx) -> Response:
        obj = ctx.org.require_object(ctx.param("sobject"))
        coll = ctx.org.coll(obj)
        renderer = ctx.org.renderers[obj.name]
        names = ["Id", "Name"] if "Name" in obj.fields else ["Id"]
        recent = []
        for record in reversed(coll.records.values()):
            if not record.deleted:
                recent.append(renderer.subset(record, ctx.version, names))
            if len(recent) >= 3 or len(recent) == len(coll):
                break
        return json_response(basic_info(obj, ctx.version, recent))

    async def object_describe(ctx: Ctx) -> Response:
        obj = ctx.org.require_object(ctx.param("sobject"))
        changed = vendor.schema_changed
        since = ctx.request.headers.get("if-modified-since")
        if since:
            try:
                moment = parsedate_to_datetime(since)
            except (TypeError, ValueError):
                moment = None
            if moment is not None and int(moment.timestamp()) >= int(changed.timestamp()):
                return Response(status_code=304)
        return json_response(
            describe(obj, ctx.version, base_url(ctx.request)),
            headers={"Last-Modified": format_datetime(changed, usegmt=True)},
        )

    table = [
        (DATA, "resources", ["GET"], resources),
        (f"{DATA}/limits", "limits", ["GET"], limits),
        (f"{DATA}/sobjects", "describe_global", ["GET"], global_describe),
        (f"{DATA}/sobjects/{{sobject}}/describe", "describe", ["GET"], object_describe),
        (f"{DATA}/sobjects/{{sobject}}", "basic_info", ["GET"], object_info),
    ]
    return [
        Route("/services/data", versions, methods=["GET"]),
        Route("/services/data/", versions, methods=["GET"]),
        *routes(vendor, table),
    ]
