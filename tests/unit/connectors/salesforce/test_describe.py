"""describe → ObjectSchema: types, required/unique/external-id flags, picklists, references, stages."""

from __future__ import annotations

from crmsync.connectors.salesforce import SalesforceConnector

from .conftest import Admin


async def test_contact_schema(connector: SalesforceConnector, admin: Admin) -> None:
    schema = await connector.describe("Contact")
    assert (schema.id_field, schema.modstamp_field) == ("Id", "SystemModstamp")
    assert schema.fields["LastName"].required and not schema.fields["FirstName"].required
    assert not schema.fields["OwnerId"].required  # defaulted on create
    assert schema.fields["Email"].type == "email"
    assert schema.fields["AccountId"].type == "reference" and schema.fields["AccountId"].references == ("Account",)
    ext = schema.fields["Crmsync_Id__c"]
    assert ext.external_id and ext.unique and ext.custom
    assert schema.fields["Tier__c"].picklist_values == ("Gold", "Silver")
    # `restrictedPicklist`: LeadSource takes values it does not list; a restricted picklist does not.
    assert not schema.fields["LeadSource"].restricted
    assert schema.fields["Tier__c"].restricted
    assert schema.fields["SystemModstamp"].read_only
    await connector.describe("Contact")
    assert (await admin.stats())["operations"]["describe"]["calls"] == 1  # cached


async def test_opportunity_stages(connector: SalesforceConnector) -> None:
    schema = await connector.describe("Opportunity")
    assert schema.stages["Closed Won"] == ("Closed Won", True, True)
    assert schema.stages["Closed Lost"] == ("Closed Lost", True, False)
    assert schema.stages["Prospecting"] == ("Prospecting", False, False)
    assert schema.fields["Amount"].type == "currency"
    assert schema.fields["CloseDate"].type == "date" and schema.fields["CloseDate"].required
