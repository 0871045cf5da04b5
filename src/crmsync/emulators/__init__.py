"""Faithful local emulators of the Salesforce, HubSpot and Dataverse APIs, with fault injection."""
