"""caremap's category taxonomy: the Open Eligibility top-level categories and a second level.

This module is the one place the categories are defined. `sync_taxonomy` (in service.py) writes
them to the `taxonomy_term` table with stable ids (uuid5 of the code), so every installation and
every HSDS export names a category with the same id.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID, uuid5

TAXONOMY_NAME = "caremap"
_NAMESPACE = UUID("6f1c1f5e-6a53-4c8e-9a1c-0c5b1d0e7a11")


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name: str
    name_es: str
    description: str
    parent: str | None = None

    @property
    def id(self) -> UUID:
        return category_id(self.code)

    def name_in(self, language: str) -> str:
        """The category's name in `language` (Spanish, or English for any other)."""
        return self.name_es if language == "es" else self.name


def category_id(code: str) -> UUID:
    return uuid5(_NAMESPACE, f"{TAXONOMY_NAME}:{code}")


def _top(code: str, name: str, name_es: str, description: str) -> Category:
    return Category(code, name, name_es, description)


def _sub(parent: str, code: str, name: str, name_es: str, description: str) -> Category:
    return Category(code, name, name_es, description, parent)


CATEGORIES: tuple[Category, ...] = (
    _top("emergency", "Emergency", "Emergencias", "Urgent help in a crisis or disaster."),
    _sub(
        "emergency",
        "crisis-support",
        "Crisis support",
        "Apoyo en crisis",
        "Crisis lines, mobile crisis teams and safety planning.",
    ),
    _sub(
        "emergency",
        "domestic-violence",
        "Domestic violence help",
        "Ayuda por violencia doméstica",
        "Safe shelter, hotlines and advocacy for people experiencing abuse.",
    ),
    _sub(
        "emergency",
        "disaster-relief",
        "Disaster relief",
        "Ayuda en desastres",
        "Help after fires, floods and other disasters.",
    ),
    _top("food", "Food", "Comida", "Groceries, meals and food benefits."),
    _sub(
        "food",
        "food-pantry",
        "Food pantry",
        "Despensa de alimentos",
        "Free groceries from a food bank or pantry.",
    ),
    _sub(
        "food",
        "meals",
        "Free meals",
        "Comidas gratis",
        "Hot meals, soup kitchens and summer meals.",
    ),
    _sub(
        "food",
        "snap-wic",
        "SNAP and WIC help",
        "Ayuda con SNAP y WIC",
        "Help applying for SNAP (food stamps) and WIC.",
    ),
    _top("housing", "Housing", "Vivienda", "Shelter, rent and utilities."),
    _sub("housing", "shelter", "Shelter", "Albergue", "Emergency and transitional shelter."),
    _sub(
        "housing",
        "rent-assistance",
        "Rent assistance",
        "Ayuda con la renta",
        "Help paying rent and preventing eviction.",
    ),
    _sub(
        "housing",
        "utilities",
        "Utility bills",
        "Pago de servicios",
        "Help with gas, electric and water bills.",
    ),
    _sub(
        "housing",
        "housing-search",
        "Finding housing",
        "Búsqueda de vivienda",
        "Help finding affordable housing.",
    ),
    _top("goods", "Goods", "Artículos", "Clothing, supplies and household items."),
    _sub("goods", "clothing", "Clothing", "Ropa", "Free clothing, coats and shoes."),
    _sub(
        "goods",
        "school-supplies",
        "School supplies",
        "Útiles escolares",
        "Backpacks, supplies and uniforms.",
    ),
    _sub(
        "goods",
        "baby-supplies",
        "Baby supplies",
        "Artículos para bebés",
        "Diapers, formula and cribs.",
    ),
    _top("transit", "Transit", "Transporte", "Getting where you need to go."),
    _sub(
        "transit",
        "transportation",
        "Transportation",
        "Transporte",
        "Rides to appointments and school.",
    ),
    _sub(
        "transit",
        "bus-passes",
        "Bus passes",
        "Pases de autobús",
        "Free or reduced-fare transit passes.",
    ),
    _top("health", "Health", "Salud", "Medical, dental and mental health care."),
    _sub(
        "health",
        "medical-care",
        "Medical care",
        "Atención médica",
        "Clinics, checkups and vaccines.",
    ),
    _sub(
        "health",
        "dental",
        "Dental care",
        "Atención dental",
        "Dental exams, cleanings and treatment.",
    ),
    _sub(
        "health",
        "mental-health-counseling",
        "Mental health counseling",
        "Consejería de salud mental",
        "Therapy and counseling for children, teens and families.",
    ),
    _sub(
        "health",
        "substance-use",
        "Substance use",
        "Uso de sustancias",
        "Treatment and support for alcohol and drug use.",
    ),
    _sub("health", "vision", "Vision care", "Cuidado de la vista", "Eye exams and glasses."),
    _sub(
        "health",
        "health-insurance",
        "Health insurance help",
        "Ayuda con seguro médico",
        "Help enrolling in Medicaid, CHIP and marketplace plans.",
    ),
    _top("money", "Money", "Dinero", "Benefits, cash help and financial coaching."),
    _sub(
        "money",
        "benefits-help",
        "Benefits help",
        "Ayuda con beneficios",
        "Help applying for public benefits.",
    ),
    _sub(
        "money",
        "tax-prep",
        "Free tax help",
        "Ayuda gratuita con impuestos",
        "Free tax preparation and tax credits.",
    ),
    _sub(
        "money",
        "financial-coaching",
        "Financial coaching",
        "Asesoría financiera",
        "Budgeting, credit and savings help.",
    ),
    _top("care", "Care", "Cuidado", "Care for children, families and people with disabilities."),
    _sub(
        "care",
        "childcare",
        "Childcare",
        "Cuidado infantil",
        "Daycare, preschool and childcare subsidies.",
    ),
    _sub(
        "care",
        "family-support",
        "Family support",
        "Apoyo familiar",
        "Parenting classes, home visiting and family case management.",
    ),
    _sub(
        "care",
        "disability-support",
        "Disability support",
        "Apoyo para discapacidades",
        "Services for children and adults with disabilities.",
    ),
    _top("education", "Education", "Educación", "Learning support for students and adults."),
    _sub("education", "tutoring", "Tutoring", "Tutoría", "Homework help and tutoring."),
    _sub(
        "education",
        "after-school",
        "After-school programs",
        "Programas después de la escuela",
        "Safe, supervised programs after school.",
    ),
    _sub("education", "mentoring", "Mentoring", "Mentoría", "Mentors for children and teens."),
    _sub(
        "education",
        "adult-education",
        "Adult education",
        "Educación para adultos",
        "GED, ESL and adult literacy classes.",
    ),
    _top("work", "Work", "Trabajo", "Finding and keeping a job."),
    _sub(
        "work",
        "job-training",
        "Job training",
        "Capacitación laboral",
        "Job skills, certifications and apprenticeships.",
    ),
    _sub(
        "work",
        "job-placement",
        "Job search help",
        "Ayuda para buscar trabajo",
        "Resume help, job fairs and placement.",
    ),
    _sub(
        "work",
        "youth-employment",
        "Youth jobs",
        "Empleo juvenil",
        "Summer jobs and internships for teens.",
    ),
    _top("legal", "Legal", "Legal", "Legal advice and representation."),
    _sub("legal", "legal-aid", "Legal aid", "Ayuda legal", "Free legal advice and representation."),
    _sub(
        "legal",
        "immigration",
        "Immigration help",
        "Ayuda de inmigración",
        "Immigration legal services and DACA renewals.",
    ),
    _sub(
        "legal",
        "eviction-defense",
        "Eviction defense",
        "Defensa contra desalojos",
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
