"""caremap's category taxonomy: the Open Eligibility top-level categories and a second level.

This module is the one place the categories are defined. `sync_taxonomy` (in service.py) writes
them to the `taxonomy_term` table with stable ids (uuid5 of the code), so every installation and
every HSDS export names a category with the same id.
"""

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid5

from directory.i18n import N_, catalog, languages

LOCALES = Path(__file__).parent / "locales"
TAXONOMY_NAME = "caremap"
_NAMESPACE = UUID("6f1c1f5e-6a53-4c8e-9a1c-0c5b1d0e7a11")


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name: str
    description: str
    parent: str | None = None

    @property
    def id(self) -> UUID:
        return category_id(self.code)

    def name_in(self, language: str) -> str:
        """The category's name in `language`, from this package's catalog (English when the
        language has none)."""
        return catalog(LOCALES, language).gettext(self.name)

    @functools.cache  # noqa: B019 (a few dozen categories, each asked for every document)
    def names(self) -> frozenset[str]:
        """Its name in English and in every language with a catalog, for search to know."""
        return frozenset(self.name_in(language) for language in languages(LOCALES))


def category_id(code: str) -> UUID:
    return uuid5(_NAMESPACE, f"{TAXONOMY_NAME}:{code}")


def _top(code: str, name: str, description: str) -> Category:
    return Category(code, name, description)


def _sub(parent: str, code: str, name: str, description: str) -> Category:
    return Category(code, name, description, parent)


CATEGORIES: tuple[Category, ...] = (
    _top("emergency", N_("Emergency"), "Urgent help in a crisis or disaster."),
    _sub(
        "emergency",
        "crisis-support",
        N_("Crisis support"),
        "Crisis lines, mobile crisis teams and safety planning.",
    ),
    _sub(
        "emergency",
        "domestic-violence",
        N_("Domestic violence help"),
        "Safe shelter, hotlines and advocacy for people experiencing abuse.",
    ),
    _sub(
        "emergency",
        "disaster-relief",
        N_("Disaster relief"),
        "Help after fires, floods and other disasters.",
    ),
    _top("food", N_("Food"), "Groceries, meals and food benefits."),
    _sub(
        "food",
        "food-pantry",
        N_("Food pantry"),
        "Free groceries from a food bank or pantry.",
    ),
    _sub(
        "food",
        "meals",
        N_("Free meals"),
        "Hot meals, soup kitchens and summer meals.",
    ),
    _sub(
        "food",
        "snap-wic",
        N_("SNAP and WIC help"),
        "Help applying for SNAP (food stamps) and WIC.",
    ),
    _top("housing", N_("Housing"), "Shelter, rent and utilities."),
    _sub("housing", "shelter", N_("Shelter"), "Emergency and transitional shelter."),
    _sub(
        "housing",
        "rent-assistance",
        N_("Rent assistance"),
        "Help paying rent and preventing eviction.",
    ),
    _sub(
        "housing",
        "utilities",
        N_("Utility bills"),
        "Help with gas, electric and water bills.",
    ),
    _sub(
        "housing",
        "housing-search",
        N_("Finding housing"),
        "Help finding affordable housing.",
    ),
    _top("goods", N_("Goods"), "Clothing, supplies and household items."),
    _sub("goods", "clothing", N_("Clothing"), "Free clothing, coats and shoes."),
    _sub(
        "goods",
        "school-supplies",
        N_("School supplies"),
        "Backpacks, supplies and uniforms.",
    ),
    _sub(
        "goods",
        "baby-supplies",
        N_("Baby supplies"),
        "Diapers, formula and cribs.",
    ),
    _top("transit", N_("Transit"), "Getting where you need to go."),
    _sub(
        "transit",
        "transportation",
        N_("Transportation"),
        "Rides to appointments and school.",
    ),
    _sub(
        "transit",
        "bus-passes",
        N_("Bus passes"),
        "Free or reduced-fare transit passes.",
    ),
    _top("health", N_("Health"), "Medical, dental and mental health care."),
    _sub(
        "health",
        "medical-care",
        N_("Medical care"),
        "Clinics, checkups and vaccines.",
    ),
    _sub(
        "health",
        "dental",
        N_("Dental care"),
        "Dental exams, cleanings and treatment.",
    ),
    _sub(
        "health",
        "mental-health-counseling",
        N_("Mental health counseling"),
        "Therapy and counseling for children, teens and families.",
    ),
    _sub(
        "health",
        "substance-use",
        N_("Substance use"),
        "Treatment and support for alcohol and drug use.",
    ),
    _sub("health", "vision", N_("Vision care"), "Eye exams and glasses."),
    _sub(
        "health",
        "health-insurance",
        N_("Health insurance help"),
        "Help enrolling in Medicaid, CHIP and marketplace plans.",
    ),
    _top("money", N_("Money"), "Benefits, cash help and financial coaching."),
    _sub(
        "money",
        "benefits-help",
        N_("Benefits help"),
        "Help applying for public benefits.",
    ),
    _sub(
        "money",
        "tax-prep",
        N_("Free tax help"),
        "Free tax preparation and tax credits.",
    ),
    _sub(
        "money",
        "financial-coaching",
        N_("Financial coaching"),
        "Budgeting, credit and savings help.",
    ),
    _top("care", N_("Care"), "Care for children, families and people with disabilities."),
    _sub(
        "care",
        "childcare",
        N_("Childcare"),
        "Daycare, preschool and childcare subsidies.",
    ),
    _sub(
        "care",
        "family-support",
        N_("Family support"),
        "Parenting classes, home visiting and family case management.",
    ),
    _sub(
        "care",
        "disability-support",
        N_("Disability support"),
        "Services for children and adults with disabilities.",
    ),
    _top("education", N_("Education"), "Learning support for students and adults."),
    _sub("education", "tutoring", N_("Tutoring"), "Homework help and tutoring."),
    _sub(
        "education",
        "after-school",
        N_("After-school programs"),
        "Safe, supervised programs after school.",
    ),
    _sub("education", "mentoring", N_("Mentoring"), "Mentors for children and teens."),
    _sub(
        "education",
        "adult-education",
        N_("Adult education"),
        "GED, ESL and adult literacy classes.",
    ),
    _top("work", N_("Work"), "Finding and keeping a job."),
    _sub(
        "work",
        "job-training",
        N_("Job training"),
        "Job skills, certifications and apprenticeships.",
    ),
    _sub(
        "work",
        "job-placement",
        N_("Job search help"),
        "Resume help, job fairs and placement.",
    ),
    _sub(
        "work",
        "youth-employment",
        N_("Youth jobs"),
        "Summer jobs and internships for teens.",
    ),
    _top("legal", N_("Legal"), "Legal advice and representation."),
    _sub("legal", "legal-aid", N_("Legal aid"), "Free legal advice and representation."),
    _sub(
        "legal",
        "immigration",
        N_("Immigration help"),
        "Immigration legal services and DACA renewals.",
    ),
    _sub(
        "legal",
        "eviction-defense",
        N_("Eviction defense"),
        "Legal help for tenants facing eviction.",
    ),
)

BY_CODE: dict[str, Category] = {category.code: category for category in CATEGORIES}
BY_ID: dict[UUID, Category] = {category.id: category for category in CATEGORIES}
TOP_LEVEL: tuple[Category, ...] = tuple(c for c in CATEGORIES if c.parent is None)


def children_of(code: str) -> tuple[Category, ...]:
    return tuple(c for c in CATEGORIES if c.parent == code)


def expand_with_parents(codes: list[str]) -> set[str]:
    """The codes plus the parents of second-level codes: a `food-pantry` service is `food` too."""
    expanded = set(codes)
    for code in codes:
        parent = BY_CODE[code].parent
        if parent:
            expanded.add(parent)
    return expanded


def top_levels(codes: Iterable[str]) -> list[str]:
    """The top-level categories of the known codes among `codes`, each once, sorted."""
    return sorted({BY_CODE[code].parent or code for code in codes if code in BY_CODE})


def within(category: str, codes: Iterable[str]) -> bool:
    """Whether any known code among `codes` is `category` or one of its subcategories."""
    return category in expand_with_parents([code for code in codes if code in BY_CODE])
