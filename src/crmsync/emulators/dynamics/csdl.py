"""A minimal CSDL `$metadata` document: entity types with keys, properties and navigation properties."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from crmsync.emulators.dynamics.schema import Table


def csdl(tables: list[Table], *, annotations: bool = False) -> str:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        "<edmx:DataServices>",
        '<Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
        '<EntityType Name="crmbaseentity" Abstract="true"/>',
    ]
    for table in tables:
        out.append(f'<EntityType Name="{table.logical_name}" BaseType="mscrm.crmbaseentity">')
        out.append(f'<Key><PropertyRef Name="{table.primary_id}"/></Key>')
        for column in table.columns.values():
            out.append(f'<Property Name="{column.property_name}" Type="{column.edm_type}"/>')
        for nav, (_, target) in table.navs.items():
            partner = f"{table.logical_name}_{nav}"
            out.append(
                f'<NavigationProperty Name={quoteattr(nav)} Type="mscrm.{target}" Nullable="false" '
                f'Partner="{partner}"/>'
            )
        out.append("</EntityType>")
    out.append('<EntityContainer Name="System">')
    for table in tables:
        out.append(f'<EntitySet Name="{table.entity_set}" EntityType="Microsoft.Dynamics.CRM.{table.logical_name}">')
        if annotations:
            out.append(
                '<Annotation Term="Org.OData.Capabilities.V1.ChangeTracking"><Record>'
                '<PropertyValue Property="Supported" Bool="true"/></Record></Annotation>'
            )
        out.append("</EntitySet>")
    out.append('<ActionImport Name="WinOpportunity" Action="mscrm.WinOpportunity"/>')
    out.append('<ActionImport Name="LoseOpportunity" Action="mscrm.LoseOpportunity"/>')
    out.append('<ActionImport Name="Merge" Action="mscrm.Merge"/>')
    out.append('<FunctionImport Name="WhoAmI" Function="mscrm.WhoAmI"/>')
    out.append("</EntityContainer>")
    out.extend(["</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"])
    return "".join(out)
