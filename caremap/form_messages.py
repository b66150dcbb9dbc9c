"""The field messages people read on the forms (search, "ask for help", "report a problem",
the referral form), marked for translation.

The services name a problem in English, the same words the JSON API gives; a page shows them
through the `say` filter, which looks each one up in the page's language catalog. Listing a
message here is what puts it in the catalog (`pybabel extract`), so a new message a page can
show belongs here; one that is not listed is shown as it is.
"""


def N_(message: str) -> str:
    return message


FORM_MESSAGES = (
    # search
    N_("place not found; try a ZIP code or City, ST"),
    N_("unknown ZIP code"),
    N_("coordinates are out of range"),
    N_("give a distance such as 5, 5mi or 8km"),
    N_("must be relevance or distance"),
    N_("sorting by distance needs near"),
    N_("use a language code such as en or es"),
    N_("at most 200 characters"),
    # ask for help
    N_("choose one of the listed needs"),
    N_("choose how to reach you, or ask anonymously"),
    N_("choose your school from the list"),
    N_("must be a phone number"),
    N_("must be an email address"),
    N_("needed to reach them by phone"),
    N_("needed to reach them by text"),
    N_("needed to reach them by email"),
    N_("at most 2000 characters"),
    # any form: the plain words for the input rules (`directory.schemas.PLAIN`)
    N_("required"),
    N_("choose at least one"),
    N_("must be a whole number"),
    N_("a date and time such as 2026-11-23T15:30"),
    N_("a referral cannot be sent without recorded consent"),
    # my list
    N_("your list is empty"),
    N_("the list could not be sent just now"),
    # report a problem
    N_("required: say what is wrong"),
    N_("at most 1000 characters"),
)
