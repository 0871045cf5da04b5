"""The vocabularies the seed world draws from: names (unicode included), companies, places, titles, stages."""

from __future__ import annotations

from typing import Literal

FIRST_NAMES = (
    "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara Richard Susan "
    "Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Sandra "
    "Mark Ashley Donald Emily Steven Kimberly Andrew Donna Paul Michelle Joshua Carol Kenneth Amanda Kevin "
    "Melissa Brian Deborah George Stephanie Timothy Rebecca Ronald Laura Jason Helen Edward Sharon Jeffrey "
    "Cynthia Ryan Kathleen Jacob Amy Gary Angela Nicholas Shirley Eric Anna Jonathan Brenda Stephen Pamela "
    "Larry Emma Justin Nicole Scott Samantha Brandon Katherine Benjamin Christine Samuel Debra Gregory Rachel "
    "José Zoë Łukasz Søren Chloé François Ana María Björn Renée Siobhán Jürgen Ngọc Aiko Rahul Priya "
    "Mateo Lucía Oluwaseun Chidi Wei Mei Hiroshi Yuki Dmitri Olga Ayşe Mehmet Fatima Omar Ines Joaquín"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
    "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker "
    "Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper "
    "Müller Ølstad Núñez Kowalski Dubois Østergaard O'Brien D'Angelo Vandenberg Schröder Åström Çelik "
    "Tanaka Suzuki Yamamoto Kim Park Chen Wang Li Zhang Patel Sharma Okafor Adeyemi Ivanov Petrova"
).split()
CJK_NAMES = (("小明", "王"), ("美玲", "李"), ("健", "张"), ("花子", "山田"), ("민준", "김"))
COMPANY_WORDS = (
    "Acme Globex Initech Umbrella Stark Wayne Wonka Tyrell Cyberdyne Soylent Hooli Vandelay Massive "
    "Aperture Oscorp Gringotts Monarch Pied Piper Dunder Sterling Prestige Virtucon Nakatomi Gekko "
    "Northwind Contoso Fabrikam Tailspin Litware Adventure Blue Yonder Wingtip Proseware Lucerne Alpine "
    "Nordlys Zürich Kōgyō Überblick Société Ñandú Œuvre Brightline Keystone Summit Harbor Cobalt Meridian"
).split()
COMPANY_SUFFIXES = ("Inc", "LLC", "Ltd", "GmbH", "Corp", "Group", "Labs", "Systems", "Partners", "AG", "SA")
INDUSTRIES = (
    "software",
    "banking",
    "retail",
    "healthcare",
    "manufacturing",
    "education",
    "media",
    "consulting",
)
TITLES = (
    "CEO",
    "CTO",
    "CFO",
    "VP Sales",
    "VP Marketing",
    "Head of Operations",
    "Sales Manager",
    "Account Executive",
    "Marketing Manager",
    "Software Engineer",
    "Product Manager",
    "Procurement Lead",
    "Office Manager",
    "Director of IT",
    "Customer Success Manager",
)
CITIES = (
    ("San Francisco", "CA", "94105", "United States", "415"),
    ("New York", "NY", "10001", "United States", "212"),
    ("Austin", "TX", "73301", "United States", "512"),
    ("Chicago", "IL", "60601", "United States", "312"),
    ("Seattle", "WA", "98101", "United States", "206"),
    ("Boston", "MA", "02108", "United States", "617"),
    ("Toronto", "ON", "M5H 2N2", "Canada", "416"),
    ("London", None, "EC1A 1BB", "United Kingdom", None),
    ("Berlin", None, "10115", "Germany", None),
    ("Paris", None, "75001", "France", None),
    ("São Paulo", "SP", "01000-000", "Brazil", None),
    ("Tokyo", None, "100-0001", "Japan", None),
)
STREETS = ("Market St", "Main St", "Broadway", "Elm Ave", "King St", "Oak Rd", "Hauptstraße", "Rue de Rivoli")
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Trade Show", "Word of mouth", "Other")
LIFECYCLES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
STAGES = ("prospecting", "qualification", "needs_analysis", "proposal", "negotiation", "closed_won", "closed_lost")
DEAL_TYPES = ("New Business", "Existing Business", None)
ACTIVITY_KINDS: tuple[Literal["task", "call", "meeting", "note"], ...] = ("task", "call", "meeting", "note")
ACTIVITY_SUBJECTS = (
    "Follow up on proposal",
    "Intro call",
    "Quarterly business review",
    "Send pricing",
    "Demo of the new release",
    "Contract questions",
    "Renewal discussion",
    "Onboarding kickoff",
)
STATUSES: tuple[Literal["not_started", "in_progress", "completed"], ...] = ("not_started", "in_progress", "completed")
PRIORITIES: tuple[Literal["low", "normal", "high"], ...] = ("low", "normal", "high")
