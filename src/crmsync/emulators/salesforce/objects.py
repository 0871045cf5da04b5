"""The standard sObjects of a fresh org: Account, Contact, Opportunity, OpportunityContactRole, Task, Event,
User, with their default picklists and the opportunity stage table."""

from __future__ import annotations

from typing import NamedTuple

from crmsync.emulators.salesforce.schema import (
    F,
    FieldDef,
    ObjectDef,
    address_fields,
    pick,
    ref,
    system_head,
    system_tail,
)


class Stage(NamedTuple):
    probability: int
    forecast: str
    forecast_name: str
    closed: bool
    won: bool


STAGES: dict[str, Stage] = {
    "Prospecting": Stage(10, "Pipeline", "Pipeline", False, False),
    "Qualification": Stage(10, "Pipeline", "Pipeline", False, False),
    "Needs Analysis": Stage(20, "Pipeline", "Pipeline", False, False),
    "Value Proposition": Stage(50, "Pipeline", "Pipeline", False, False),
    "Id. Decision Makers": Stage(60, "Pipeline", "Pipeline", False, False),
    "Perception Analysis": Stage(70, "Pipeline", "Pipeline", False, False),
    "Proposal/Price Quote": Stage(75, "Pipeline", "Pipeline", False, False),
    "Negotiation/Review": Stage(90, "Pipeline", "Pipeline", False, False),
    "Closed Won": Stage(100, "Closed", "Closed", True, True),
    "Closed Lost": Stage(0, "Omitted", "Omitted", True, False),
}

INDUSTRIES = (
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction",
    "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment", "Environmental",
    "Finance", "Food & Beverage", "Government", "Healthcare", "Hospitality", "Insurance", "Machinery",
    "Manufacturing", "Media", "Not For Profit", "Recreation", "Retail", "Shipping", "Technology",
    "Telecommunications", "Transportation", "Utilities", "Other",
)  # fmt: skip
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
CLEAN_STATUS = ("Matched", "Different", "Acknowledged", "NotFound", "Inactive", "Pending", "SelectMatch", "Skipped")
TASK_STATUS = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
PRIORITIES = ("High", "Normal", "Low")
ROLES = (
    "Business User", "Decision Maker", "Economic Buyer", "Economic Decision Maker", "Evaluator",
    "Executive Sponsor", "Influencer", "Technical Buyer", "Other",
)  # fmt: skip


def _obj(name: str, plural: str, prefix: str, fields: list[FieldDef], *, mergeable: bool = False) -> ObjectDef:
    obj = ObjectDef(name, name, plural, prefix, {f.name: f for f in fields}, mergeable=mergeable)
    obj.index()
    return obj


def _owner() -> FieldDef:
    return ref("OwnerId", ("User",), "Owner", defaulted=True, nillable=False, label="Owner ID")


def _activity_tail() -> list[FieldDef]:
    return [
        F("LastViewedDate", "datetime", 0, "ro"),
        F("LastReferencedDate", "datetime", 0, "ro"),
    ]


def account() -> ObjectDef:
    fields = [
        *system_head("Account", mergeable=True, obj="Account"),
        F("Name", "string", 255, "req", label="Account Name"),
        pick(
            "Type",
            (
                "Prospect",
                "Customer - Direct",
                "Customer - Channel",
                "Channel Partner / Reseller",
                "Installation Partner",
                "Technology Partner",
                "Other",
            ),
            label="Account Type",
        ),
        ref("ParentId", ("Account",), "Parent", label="Parent Account ID"),
        *address_fields("Billing"),
        *address_fields("Shipping"),
        F("Phone", "phone", 40, label="Account Phone"),
        F("Fax", "phone", 40, label="Account Fax"),
        F("AccountNumber", "string", 40),
        F("Website", "url", 255),
        F("PhotoUrl", "url", 255, "ro", "comp"),
        F("Sic", "string", 20, label="SIC Code"),
        pick("Industry", INDUSTRIES),
        F("AnnualRevenue", "currency", 0, precision=18),
        F("NumberOfEmployees", "int", 0, label="Employees", digits=8),
        pick("Ownership", ("Public", "Private", "Subsidiary", "Other")),
        F("TickerSymbol", "string", 20),
        F("Description", "textarea", 32000, label="Account Description"),
        pick("Rating", ("Hot", "Warm", "Cold"), label="Account Rating"),
        F("Site", "string", 80, label="Account Site"),
        _owner(),
        *system_tail(),
        F("LastActivityDate", "date", 0, "ro"),
        *_activity_tail(),
        F("Jigsaw", "string", 20, label="Data.com Key"),
        F("JigsawCompanyId", "string", 20, "ro"),
        pick("CleanStatus", CLEAN_STATUS, label="Clean Status"),
        pick("AccountSource", LEAD_SOURCES),
        F("DunsNumber", "string", 9, label="D-U-N-S Number"),
        F("Tradestyle", "string", 255),
        F("NaicsCode", "string", 8, label="NAICS Code"),
        F("NaicsDesc", "string", 120, label="NAICS Description"),
        F("YearStarted", "string", 4),
        F("SicDesc", "string", 80, label="SIC Description"),
        ref("DandbCompanyId", ("DandBCompany",), "DandbCompany"),
        ref("OperatingHoursId", ("OperatingHours",), "OperatingHours"),
    ]
    return _obj("Account", "Accounts", "001", fields, mergeable=True)


def contact() -> ObjectDef:
    fields = [
        *system_head("Contact", mergeable=True, obj="Contact"),
        ref("AccountId", ("Account",), "Account", label="Account ID"),
        F("LastName", "string", 80, "req"),
        F("FirstName", "string", 40),
        pick("Salutation", ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx.")),
        F("Name", "string", 121, "ro", "comp", label="Full Name"),
        *address_fields("Other"),
        *address_fields("Mailing"),
        F("Phone", "phone", 40, label="Business Phone"),
        F("Fax", "phone", 40, label="Business Fax"),
        F("MobilePhone", "phone", 40),
        F("HomePhone", "phone", 40),
        F("OtherPhone", "phone", 40),
        F("AssistantPhone", "phone", 40, label="Asst. Phone"),
        ref("ReportsToId", ("Contact",), "ReportsTo", label="Reports To ID"),
        F("Email", "email", 80, "idl"),
        F("Title", "string", 128),
        F("Department", "string", 80),
        F("AssistantName", "string", 40, label="Assistant's Name"),
        pick("LeadSource", LEAD_SOURCES),
        F("Birthdate", "date", 0),
        F("Description", "textarea", 32000, label="Contact Description"),
        _owner(),
        *system_tail(),
        F("LastActivityDate", "date", 0, "ro"),
        F("LastCURequestDate", "datetime", 0, "ro"),
        F("LastCUUpdateDate", "datetime", 0, "ro"),
        *_activity_tail(),
        F("EmailBouncedReason", "string", 255),
        F("EmailBouncedDate", "datetime", 0),
        F("IsEmailBounced", "boolean", 0, "ro", "comp"),
        F("PhotoUrl", "url", 255, "ro", "comp"),
        F("Jigsaw", "string", 20, label="Data.com Key"),
        F("JigsawContactId", "string", 20, "ro"),
        pick("CleanStatus", CLEAN_STATUS, label="Clean Status"),
        ref("IndividualId", ("Individual",), "Individual"),
    ]
    return _obj("Contact", "Contacts", "003", fields, mergeable=True)


def opportunity() -> ObjectDef:
    fields = [
        *system_head("Opportunity", mergeable=False, obj="Opportunity"),
        ref("AccountId", ("Account",), "Account", label="Account ID"),
        F("IsPrivate", "boolean", 0, label="Private"),
        F("Name", "string", 120, "req"),
        F("Description", "textarea", 32000),
        pick("StageName", tuple(STAGES), "req", restricted=True, label="Stage"),
        F("Amount", "currency", 0, precision=18, scale=2),
        F("Probability", "percent", 0, "dflt", label="Probability (%)", precision=3),
        F("ExpectedRevenue", "currency", 0, "ro", "calc", "comp", precision=18, scale=2),
        F("TotalOpportunityQuantity", "double", 0, label="Quantity", precision=18, scale=2),
        F("CloseDate", "date", 0, "req"),
        pick(
            "Type",
            (
                "Existing Customer - Upgrade",
                "Existing Customer - Replacement",
                "Existing Customer - Downgrade",
                "New Customer",
            ),
            label="Opportunity Type",
        ),
        F("NextStep", "string", 255),
        pick("LeadSource", LEAD_SOURCES),
        F("IsClosed", "boolean", 0, "ro", label="Closed"),
        F("IsWon", "boolean", 0, "ro", label="Won"),
        pick(
            "ForecastCategory",
            ("Omitted", "Pipeline", "BestCase", "Forecast", "Closed"),
            "ro",
            defaulted=True,
            nillable=False,
        ),
        pick(
            "ForecastCategoryName",
            ("Omitted", "Pipeline", "Best Case", "Commit", "Closed"),
            "dflt",
            label="Forecast Category",
        ),
        ref("CampaignId", ("Campaign",), "Campaign"),
        F("HasOpportunityLineItem", "boolean", 0, "ro", label="Has Line Item"),
        ref("Pricebook2Id", ("Pricebook2",), "Pricebook2"),
        _owner(),
        *system_tail(),
        F("LastActivityDate", "date", 0, "ro"),
        F("FiscalQuarter", "int", 0, "ro", "comp"),
        F("FiscalYear", "int", 0, "ro", "comp"),
        F("Fiscal", "string", 6, "ro", "comp", label="Fiscal Period"),
        ref("ContactId", ("Contact",), "Contact", label="Contact ID"),
        *_activity_tail(),
        F("HasOpenActivity", "boolean", 0, "ro"),
        F("HasOverdueTask", "boolean", 0, "ro"),
    ]
    return _obj("Opportunity", "Opportunities", "006", fields)


def opportunity_contact_role() -> ObjectDef:
    fields = [
        *system_head("Contact Role", mergeable=False, obj="OpportunityContactRole"),
        ref("OpportunityId", ("Opportunity",), "Opportunity", "req", "cro", label="Opportunity ID"),
        ref("ContactId", ("Contact",), "Contact", "req", label="Contact ID"),
        pick("Role", ROLES),
        F("IsPrimary", "boolean", 0, label="Primary"),
        *system_tail(),
    ]
    return _obj("OpportunityContactRole", "Opportunity Contact Role", "00K", fields)


def _activity_common() -> list[FieldDef]:
    return [
        ref("WhoId", ("Contact", "Lead"), "Who", label="Name ID", polymorphic=True),
        ref("WhatId", ("Account", "Opportunity"), "What", label="Related To ID", polymorphic=True),
    ]


def task() -> ObjectDef:
    fields = [
        F("Id", "id", 18, "ro", "idl", "notnull", label="Activity ID", defaulted=True),
        *_activity_common(),
        F("Subject", "combobox", 255),
        F("ActivityDate", "date", 0, label="Due Date Only"),
        pick("Status", TASK_STATUS, "dflt", nillable=False, restricted=True, default_value="Not Started"),
        pick("Priority", PRIORITIES, "dflt", nillable=False, restricted=True, default_value="Normal"),
        F("IsHighPriority", "boolean", 0, "ro", "comp", label="High Priority"),
        _owner(),
        F("Description", "textarea", 32000),
        F("IsDeleted", "boolean", 0, "ro", "comp", label="Deleted"),
        ref("AccountId", ("Account",), "Account", "ro", "comp", label="Account ID"),
        F("IsClosed", "boolean", 0, "ro", "comp", label="Closed"),
        *system_tail(),
        F("IsArchived", "boolean", 0, "ro", label="Archived"),
        F("CallDurationInSeconds", "int", 0, label="Call Duration", digits=8),
        pick("CallType", ("Internal", "Inbound", "Outbound")),
        F("CallDisposition", "string", 255, label="Call Result"),
        F("CallObject", "string", 255, label="Call Object Identifier"),
        F("ReminderDateTime", "datetime", 0, label="Reminder Date/Time"),
        F("IsReminderSet", "boolean", 0, label="Reminder Set"),
        F("CompletedDateTime", "datetime", 0, "ro", label="Completed Date/Time"),
        pick("TaskSubtype", ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"), "cro"),
    ]
    return _obj("Task", "Tasks", "00T", fields)


def event() -> ObjectDef:
    fields = [
        F("Id", "id", 18, "ro", "idl", "notnull", label="Activity ID", defaulted=True),
        *_activity_common(),
        F("Subject", "combobox", 255),
        F("Location", "string", 255),
        F("IsAllDayEvent", "boolean", 0, label="All-Day Event"),
        F("ActivityDateTime", "datetime", 0, "comp", label="Due Date Time"),
        F("ActivityDate", "date", 0, "comp", label="Due Date Only"),
        F("DurationInMinutes", "int", 0, label="Duration", digits=8),
        F("StartDateTime", "datetime", 0, label="Start Date Time"),
        F("EndDateTime", "datetime", 0, label="End Date Time"),
        F("Description", "textarea", 32000),
        ref("AccountId", ("Account",), "Account", "ro", "comp", label="Account ID"),
        _owner(),
        pick("Type", ("Call", "Email", "Meeting", "Other")),
        F("IsPrivate", "boolean", 0, label="Private"),
        pick("ShowAs", ("Busy", "OutOfOffice", "Free"), label="Show Time As"),
        F("IsDeleted", "boolean", 0, "ro", "comp", label="Deleted"),
        F("IsChild", "boolean", 0, "ro", label="Is Child"),
        F("IsGroupEvent", "boolean", 0, "ro", label="Group Event"),
        *system_tail(),
        F("IsReminderSet", "boolean", 0, label="Reminder Set"),
        F("ReminderDateTime", "datetime", 0, label="Reminder Date/Time"),
        pick("EventSubtype", ("Event",), "cro"),
    ]
    return _obj("Event", "Events", "00U", fields)


_USER_PERMS = (
    "MarketingUser OfflineUser CallCenterAutoLogin SFContentUser KnowledgeUser InteractionUser SupportUser "
    "JigsawProspectingUser SiteforceContributorUser SiteforcePublisherUser WorkDotComUserFeature"
).split()
_USER_PREFS = (
    "ActivityRemindersPopup EventRemindersCheckboxDefault TaskRemindersCheckboxDefault ReminderSoundOff "
    "DisableAllFeedsEmail DisableFollowersEmail DisableProfilePostEmail DisableChangeCommentEmail "
    "DisableLaterCommentEmail DisProfPostCommentEmail ContentNoEmail ContentEmailAsAndWhen "
    "ApexPagesDeveloperMode ReceiveNoNotificationsAsApprover ReceiveNotificationsAsDelegatedApprover "
    "HideCSNGetChatterMobileTask DisableMentionsPostEmail DisMentionsCommentEmail HideCSNDesktopTask "
    "HideChatterOnboardingSplash HideSecondChatterOnboardingSplash DisCommentAfterLikeEmail DisableLikeEmail "
    "SortFeedByComment DisableMessageEmail JigsawListUser DisableBookmarkEmail DisableSharePostEmail "
    "EnableAutoSubForFeeds DisableFileShareNotificationsForApi ShowTitleToExternalUsers "
    "ShowManagerToExternalUsers ShowEmailToExternalUsers ShowWorkPhoneToExternalUsers "
    "ShowMobilePhoneToExternalUsers ShowFaxToExternalUsers ShowStreetAddressToExternalUsers "
    "ShowCityToExternalUsers ShowStateToExternalUsers ShowPostalCodeToExternalUsers ShowCountryToExternalUsers "
    "ShowProfilePicToGuestUsers ShowTitleToGuestUsers ShowCityToGuestUsers ShowStateToGuestUsers "
    "ShowPostalCodeToGuestUsers ShowCountryToGuestUsers ShowForecastingChangeSignals "
    "LiveAgentMiawSetupDeflection HideS1BrowserUI DisableEndorsementEmail PathAssistantCollapsed "
    "CacheDiagnostics ShowEmailToGuestUsers ShowManagerToGuestUsers ShowWorkPhoneToGuestUsers "
    "ShowMobilePhoneToGuestUsers ShowFaxToGuestUsers ShowStreetAddressToGuestUsers "
    "LightningExperiencePreferred PreviewLightning HideEndUserOnboardingAssistantModal "
    "HideLightningMigrationModal HideSfxWelcomeMat HideBiggerPhotoCallout GlobalNavBarWTShown "
    "GlobalNavGridMenuWTShown CreateLEXAppsWTShown FavoritesWTShown RecordHomeSectionCollapseWTShown "
    "RecordHomeReservedWTShown FavoritesShowTopFavorites ExcludeMailAppAttachments SuppressTaskSFXReminders "
    "SuppressEventSFXReminders PreviewCustomTheme HasCelebrationBadge UserDebugModePref SRHOverrideActivities "
    "NewLightningReportRunPageEnabled ReverseOpenActivitiesView ShowTerritoryTimeZoneShifts "
    "HasSentWarningEmail HasSentWarningEmail238 HasSentWarningEmail240 NativeEmailClient "
    "ShowForecastingRoundedAmounts"
).split()


def user() -> ObjectDef:
    """Users are read-only here: the org has its integration user and any users seeded by the control plane."""
    s, ro = "string", "ro"
    fields: list[FieldDef] = [
        F("Id", "id", 18, ro, "idl", "notnull", label="User ID", defaulted=True),
        F("Username", s, 80, ro, "idl", "uniq"),
        F("LastName", s, 80, ro),
        F("FirstName", s, 40, ro),
        F("Name", s, 121, ro, label="Full Name"),
        F("CompanyName", s, 80, ro),
        F("Division", s, 80, ro),
        F("Department", s, 80, ro),
        F("Title", s, 80, ro),
        *[F(f.name[1:], f.type, f.length, ro, "comp" if f.type == "address" else "ro") for f in address_fields("x")],
        F("Email", "email", 128, ro),
        *[F(f"EmailPreferences{n}", "boolean", 0, ro) for n in ("AutoBcc", "AutoBccStayInTouch")],
        F("EmailPreferencesStayInTouchReminder", "boolean", 0, ro),
        F("SenderEmail", "email", 80, ro),
        F("SenderName", s, 80, ro),
        F("Signature", "textarea", 1333, ro),
        F("StayInTouchSubject", s, 80, ro),
        F("StayInTouchSignature", "textarea", 512, ro),
        F("StayInTouchNote", s, 512, ro),
        F("Phone", "phone", 40, ro),
        F("Fax", "phone", 40, ro),
        F("MobilePhone", "phone", 40, ro),
        F("Alias", s, 8, ro),
        F("CommunityNickname", s, 40, ro, label="Nickname"),
        F("BadgeText", s, 80, ro),
        F("IsActive", "boolean", 0, ro, label="Active"),
        pick("TimeZoneSidKey", ("America/Los_Angeles", "America/New_York", "Europe/London", "GMT"), ro),
        ref("UserRoleId", ("UserRole",), "UserRole", ro),
        pick("LocaleSidKey", ("en_US", "en_GB", "de_DE", "fr_FR"), ro),
        F("ReceivesInfoEmails", "boolean", 0, ro),
        F("ReceivesAdminInfoEmails", "boolean", 0, ro),
        pick("EmailEncodingKey", ("UTF-8", "ISO-8859-1"), ro),
        ref("ProfileId", ("Profile",), "Profile", ro),
        pick("UserType", ("Standard", "PowerPartner", "CsnOnly", "Guest"), ro),
        pick("StartDay", tuple(str(h) for h in range(24)), ro),
        pick("EndDay", tuple(str(h) for h in range(24)), ro),
        pick("LanguageLocaleKey", ("en_US", "de", "fr", "es"), ro),
        F("EmployeeNumber", s, 20, ro),
        ref("DelegatedApproverId", ("User",), None, ro),
        ref("ManagerId", ("User",), "Manager", ro),
        F("LastLoginDate", "datetime", 0, ro),
        F("LastPasswordChangeDate", "datetime", 0, ro),
        *system_tail(),
        F("PasswordExpirationDate", "datetime", 0, ro),
        F("NumberOfFailedLogins", "int", 0, ro),
        F("SuAccessExpirationDate", "date", 0, ro),
        F("OfflineTrialExpirationDate", "datetime", 0, ro),
        F("OfflinePdaTrialExpirationDate", "datetime", 0, ro),
        *[F(f"UserPermissions{n}", "boolean", 0, ro) for n in _USER_PERMS],
        F("ForecastEnabled", "boolean", 0, ro),
        *[F(f"UserPreferences{n}", "boolean", 0, ro) for n in _USER_PREFS],
        ref("ContactId", ("Contact",), "Contact", ro),
        ref("AccountId", ("Account",), "Account", ro),
        ref("CallCenterId", ("CallCenter",), None, ro),
        F("Extension", "phone", 40, ro),
        F("FederationIdentifier", s, 512, ro),
        F("AboutMe", "textarea", 1000, ro),
        *[F(n, "url", 1024, ro) for n in ("FullPhotoUrl", "SmallPhotoUrl")],
        F("IsExtIndicatorVisible", "boolean", 0, ro),
        F("OutOfOfficeMessage", s, 40, ro),
        F("MediumPhotoUrl", "url", 1024, ro),
        pick("DigestFrequency", ("D", "W", "N"), ro),
        pick("DefaultGroupNotificationFrequency", ("P", "D", "W", "N"), ro),
        F("JigsawImportLimitOverride", "int", 0, ro),
        *_activity_tail(),
        *[F(n, "url", 1024, ro) for n in ("BannerPhotoUrl", "SmallBannerPhotoUrl", "MediumBannerPhotoUrl")],
        F("IsProfilePhotoActive", "boolean", 0, ro),
        ref("IndividualId", ("Individual",), "Individual", ro),
    ]
    obj = _obj("User", "Users", "005", fields)
    obj.createable = False
    return obj


CHILD_RELATIONSHIPS: dict[str, list[tuple[str, str, str | None]]] = {
    "Account": [
        ("Account", "ParentId", "ChildAccounts"),
        ("Contact", "AccountId", "Contacts"),
        ("Event", "AccountId", None),
        ("Event", "WhatId", "Events"),
        ("Opportunity", "AccountId", "Opportunities"),
        ("Task", "AccountId", None),
        ("Task", "WhatId", "Tasks"),
    ],
    "Contact": [
        ("Contact", "ReportsToId", None),
        ("Event", "WhoId", "Events"),
        ("OpportunityContactRole", "ContactId", "OpportunityContactRoles"),
        ("Task", "WhoId", "Tasks"),
    ],
    "Opportunity": [
        ("Event", "WhatId", "Events"),
        ("OpportunityContactRole", "OpportunityId", "OpportunityContactRoles"),
        ("Task", "WhatId", "Tasks"),
    ],
}


def standard_objects() -> dict[str, ObjectDef]:
    objects = [account(), contact(), opportunity(), opportunity_contact_role(), task(), event(), user()]
    for obj in objects:
        obj.children = list(CHILD_RELATIONSHIPS.get(obj.name, []))
    return {obj.name: obj for obj in objects}
