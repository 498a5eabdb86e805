"""Which of the bureau's languages a mail is written in, so that an operator who reads it
gets it. A small count of each language's commonest words: plenty for telling Dutch,
English, German and French apart in a business mail; unsure texts get the client's language.
Pure.
"""

from __future__ import annotations

import re

from libs.events.values import Language

_VOCABULARY: dict[Language, str] = {
    "nl": "de het een en van ik je u is dat niet op te voor met zijn er maar wij graag "
    "bedankt groet groeten vriendelijke alvast kunt wilt mijn ons onze",
    "en": "the and of to a in is you that it for on with are be this have your we please "
    "thanks regards kind best would could my our",
    "de": "der die das und ist nicht ich sie zu mit den ein eine für auf wir ihr bitte "
    "danke grüße freundlichen gerne können würde mein unser",
    "fr": "le la les et est pas je vous de des un une pour sur avec nous merci cordialement "
    "salutations bonjour votre notre pouvez serait mon",
}
_WORDS = {language: frozenset(words.split()) for language, words in _VOCABULARY.items()}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def language_of(text: str, fallback: Language) -> Language:
    """The language most of the text's common words belong to; `fallback` when unsure."""
    words = [w.lower() for w in _WORD.findall(text[:5000])]
    scores = {lang: sum(w in vocab for w in words) for lang, vocab in _WORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    ranked = sorted(scores.values(), reverse=True)
    if ranked[0] < 3 or ranked[0] < 1.5 * ranked[1]:
        return fallback
    return best
