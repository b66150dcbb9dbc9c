"""How result names and snippets mark the words a search matched (search_index.service)."""

from search_index.service import Highlighter, highlighter_for


def test_marks_exact_words_prefixes_typos_and_synonyms() -> None:
    marked = Highlighter(("counseling", "pantry", "tuto")).highlight(
        "Counselling, therapy, tutoring, groceries; not councils, pantries or tot"
    )
    # A typo within budget (2 for a 10-letter word), a synonym of each, a prefix, a word of
    # the same stem ("pantries", 3 edits from "pantry"); "councils" is neither.
    assert marked == (
        "<mark>Counselling</mark>, <mark>therapy</mark>, <mark>tutoring</mark>, "
        "<mark>groceries</mark>; not councils, <mark>pantries</mark> or tot"
    )


def test_text_is_escaped_and_entities_are_never_words() -> None:
    highlighter = Highlighter(("amp", "lt"))
    assert highlighter.highlight("Tom & Jerry <b> \"amp\" 'lt'") == (
        "Tom &amp; Jerry &lt;b&gt; &quot;<mark>amp</mark>&quot; &#x27;<mark>lt</mark>&#x27;"
    )


def test_accented_words_match_their_plain_spelling() -> None:
    assert Highlighter(("asesoria",)).highlight("Asesoría legal") == "<mark>Asesoría</mark> legal"


def test_no_words_means_no_marks_but_still_escaped() -> None:
    assert Highlighter(()).highlight("A & B") == "A &amp; B"


def test_snippet_is_a_window_around_the_first_match() -> None:
    text = "x " * 200 + "free tutoring after school " + "y " * 200
    snippet = Highlighter(("tutoring",)).snippet(text, width=60)
    assert snippet.startswith("…")
    assert snippet.endswith("…")
    assert "<mark>tutoring</mark>" in snippet
    assert len(snippet.replace("<mark>", "").replace("</mark>", "")) == 62


def test_one_highlighter_per_set_of_words() -> None:
    assert highlighter_for(("food",)) is highlighter_for(("food",))
    assert highlighter_for(("food",)) is not highlighter_for(("rent",))
