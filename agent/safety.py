"""Crisis detection: words about suicide, self-harm, abuse or a medical emergency bypass generation.

Decisions (kept here because tests pin them):
- Any crisis phrase that is not negated routes to the fixed caring message, even when it may be hyperbole
  ("I'll kill myself if this meeting runs late"): a needless kind message costs little, a missed one a lot.
- A negated phrase ("I'm not suicidal, just tired", "I would never hurt myself") does NOT take the crisis route;
  it is flagged "near_crisis" so the reply is generated but the session records it. One unnegated phrase anywhere
  in the text wins over negated ones ("I'd never do it, but I keep thinking about killing myself" is a crisis).
- Third parties count ("my friend says she wants to die"): the message speaks to "you or someone with you".
- Typos: words are corrected towards a small vocabulary (one edit for short words, two for long), and patterns allow
  doubled/missing letters ("kil myself", "suicde", "sucidal").
- Other languages the ASR or the keyboard may pass through: the commonest Spanish, French and German phrasings
  (accents are stripped first, so "más" and "mas", "schlägt" and "schlagt" match alike).
- Sports and games are not abuse: "she beat me in the final" is ordinary; "she beat me" is not.
Every figure about these choices comes from `python -m evaluation.evaluate_safety` on evaluation/data/safety_set.jsonl.
The message names only numbers that are well established (911, 112, 999, 988, Samaritans 116 123) and always
starts from "your local emergency number", since we do not know where the person is.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

CRISIS_FLAGS: tuple[str, ...] = ("suicide", "self_harm", "abuse", "medical_emergency")
NEAR_CRISIS_FLAG = "near_crisis"

# Phrases are matched on normalised text (lower case, typos corrected, apostrophes removed: "dont", "cant").
CRISIS_PATTERNS: dict[str, tuple[str, ...]] = {
    "suicide": (
        r"\bsuicid(e|al)\b",
        r"\bkil+(ing|ed)? m[yi] ?self\b",
        # third parties count; "killed himself" is a death in the past (grief), see DEATH_CAUSE_BEFORE
        r"\bkil+(ing|s)? (him|her|them)sel(f|ves)\b",
        r"\bkms\b",
        r"\bend(ing)? my (own )?l(ife|fie|ief)\b",
        r"\bend(ing)? (it all|everything)\b",
        r"\btak(e|ing) my (own )?life\b",
        r"\b(want|wants|wanted|wanna|wana|wnat|wish|wishes|going|gonna|gona|ready|plan(ning)?) (to )?die\b"
        r"(?! (of|from) (embarrassment|shame|boredom|laughter|laughing|cringe|the heat)\b)",  # hyperbole
        r"\bwish i (was|were) dead\b",
        r"\bwish i (had )?never (been born|existed)\b",
        r"\bbetter off dead\b",
        r"\bbetter off without me\b",
        r"\b(better off|happier|easier) (if|when) (i|im) (just )?(was |were |am )?(gone|dead|died|disappeared|"
        r"not here|not around)\b",
        r"\b(end|ending) it (tonight|today|now|for good|once and for all)\b",
        r"\bthe (night|day) i end it\b",
        r"\b(jump|jumping|throw myself|throwing myself) (in front of|under) (a|the) (train|bus|car|truck|lorry)\b",
        r"\b(stockpil|hoard)\w* (my |the )?(pills|tablets|meds|medication)\b",
        r"\b(goodbye|suicide) (letters?|notes?)\b",
        r"\b(and|to) never wake up\b",
        r"\bhow many (pills|tablets)( it)? (would|will|does|do) (it )?(take|kill)\b",
        r"\blethal dose\b",
        # third parties too: "my brother says he doesnt see the point of living" is a risk to him, answered as such
        r"\b(dont|do not|doesnt|does not|cant|cannot|can not) see (any|the) point (in|of) (living|life|going on|"
        r"being alive)\b",
        r"\b(dont|do not|doesnt|does not|no longer) wants? to (live|be alive|exist|be here|wake up)\b"
        r"(?! (with|in|at|near|there|on|next|by|together|abroad|anywhere|somewhere|so far|close|under|alone)\b)",
        r"\bno (reason|point) (in |to |of )?(living|live|going on|being alive)\b",
        r"\bhang m[yi]self\b",
        r"\bjump(ing)? off (a|the) (bridge|roof|building|cliff)\b",
        r"\b(not|wont|will not) (be )?around (much longer|anymore|for long)\b.*\b(goodbye|bye)\b",
        # Spanish, French, German
        r"\b(quiero|quisiera|voy a) (morir(me)?|matarme|suicidarme)\b",
        r"\bme (quiero|voy a) (matar|morir|suicidar)\b",
        r"\bsuicid(arme|arse|io|er)\b",
        r"\bno quiero (vivir|seguir viviendo)\b",
        r"\bquitarme la vida\b",
        r"\bje (veux|vais|voudrais) (mourir|me tuer|me suicider)\b",
        r"\b(envie|besoin) de (mourir|me tuer|en finir)\b",
        r"\bmettre fin a (mes jours|ma vie)\b",
        r"\bnicht mehr leben\b",
        r"\bmich (umbringen|toten)\b",
        r"\b(selbstmord|suizid)\w*\b",
        r"\b(will|mochte|mochte gerne) sterben\b",
    ),
    "self_harm": (
        r"\bself\s*-?\s*harm(ing|ed)?\b",
        r"\b(cut|cutting|burn|burning|hurt|hurting|harm|harming|starve|starving|punish|punishing) m[yi] ?self\b",
        r"\b(burned|burnt|cut|hurt) m[yi] ?self (on purpose|deliberately|intentionally)\b",
        r"\b(cut|cuts|cutting) (my )?(wrists?|arms?|legs?|thighs?)\b",
        r"\b(slic|carv|scratch)\w* (into )?(my )?(skin|wrists?|arms?|legs?|thighs?)\b",
        # Spanish, French, German
        r"\bme (corto|estoy cortando|hago dano|lastimo)\b",
        r"\bautolesion\w*\b",
        r"\bje me (fais du mal|coupe|scarifie|blesse)\b",
        r"\b(verletze|ritze|schneide) mich\b",
    ),
    "abuse": (
        r"\b(hits|hit|chokes|choked|kicks|kicked|slaps|slapped|punches|punched) me\b(?! up\b)",  # "hit me up"
        # "she beat me in the final" is a game, not abuse
        r"\b(beats|beat) me\b(?! (at|to)\b)(?!(\W+\w+){0,3}\W+(race|game|match|final|chess|tennis|cards|round|"
        r"contest|competition|election|argument)s?\b)",
        r"\bforced (him|her|them)sel(f|ves) on me\b",
        r"\bforced me to (have sex|do things)\b",
        r"\b(abusing|abuses|abused|molested|molesting|raped|rape|assaulted) (me|him|her)\b",
        r"\b(was|been|being|am|im) (sexually |physically |emotionally )?(abused|molested|raped|assaulted)\b",
        r"\bdomestic (violence|abuse)\b",
        r"\b(threatens|threatened|threatening) to (kill|hurt) me\b",
        r"\bafraid (he|she|they)(ll| will) (hurt|kill) me\b",
        r"\btouch(es|ed)? me (when|where|and) (i|it)\b",
        r"\b(scared|afraid|terrified) (that )?(my )?(partner|husband|wife|boyfriend|girlfriend|dad|father|mom|mum|"
        r"mother|stepfather|stepmother|he|she|they)( will|ll| is going to| is gonna) (hurt|kill|hit) me\b",
        # Spanish, French, German
        r"\bme (pega|golpea|maltrata|viola)\b",
        r"\bje me fais (frapper|battre)\b",
        r"\bme (frappe|bat|viole)\b",
        r"\b(schlagt|misshandelt|vergewaltigt) mich\b",
        r"\bhausliche gewalt\b",
    ),
    "medical_emergency": (
        r"\bchest (pain|hurts|is tight)\b",
        r"\b(cant|cannot|can not|unable to|struggling to) breath(e)?\b",
        r"\bheart attack\b",
        r"\b(having|had) a stroke\b",
        r"\boverdos(e|ed|ing)\b",
        r"\btook (too many|a lot of|a bottle of|all (my|the)) (pills|tablets|meds|medication)\b",
        r"\b(took|swallowed|taken) (too many|a lot of|(a|an|the) (whole |entire )?(bottle|box|pack|packet|handful) of|"
        r"all (of )?(my|the)) (pills|tablets|meds|medication|medicine|painkillers)\b",
        r"\b(isnt|is not|wasnt|stopped|arent) breathing\b",
        r"\b(swallowed|drank|drunk|ate|took) (some |a bottle of )?(bleach|poison|antifreeze|drain cleaner|"
        r"rat poison|detergent|batteries|a battery)\b",
        r"\bbleeding (a lot|badly|heavily|wont stop)\b",
        r"\bwont stop bleeding\b",
        r"\b(unconscious|not breathing|wont wake up|having a seizure)\b",
        r"\bchoking\b",
        r"\bface is drooping\b",
    ),
}

# A negator shortly before the phrase (same clause) turns it into near-crisis: "not", "never", "dont", ...
NEGATION_BEFORE = re.compile(
    r"\b(not|never|no|dont|do not|didnt|wont|wouldnt|would never|isnt|arent|havent|nor|hardly)\b(\W+\w+){0,3}\W*$")
# The phrase itself says "not": "i'm not suicidal" -> "not" right before; "dont want to die" -> negated want.

# Vocabulary that typos are corrected towards (first letter must agree so "filling" never becomes "killing").
TYPO_VOCABULARY: tuple[str, ...] = (
    "suicide", "suicidal", "myself", "killing", "overdose", "overdosed", "breathe", "bleeding", "unconscious",
    "abused", "abusing", "molested", "seizure",
)
# Real words within a typo's reach of that vocabulary, never "corrected" ("i was overcome with grief" had become
# "overdose" and took the crisis route). Found by running _correct_word over the MiniLM tokenizer's whole words.
REAL_WORDS: frozenset[str] = frozenset((
    "amused", "amusing", "bending", "blending", "blessing", "blinding", "breeding", "overcome", "overcame",
))
# A crisis phrase that names how someone died ("my sister died by suicide", "passed away from a heart attack",
# "died of an overdose") is grief over a past death, not an emergency now: near_crisis, never the crisis route.
DEATH_CAUSE_BEFORE = re.compile(
    r"\b(died|dead|death|deaths|passed away|passed|lost (him|her|them|my \w+)|losing (him|her|them|my \w+))"
    r"\b(\W+\w+){0,3}?\W+(by|of|from|to|after|in)( an?| the| his| her| their)?( own)?\W*$")

NEAR_CRISIS_PATTERNS: tuple[str, ...] = (
    r"\bcant go on\b",
    r"\bcant (take|do) (it|this) anymore\b",
    r"\bwhat is the point\b",
    r"\bwhats the point\b",
    r"\bhopeless\b",
    r"\bdisappear forever\b",
    r"\b(killed|took) (him|her|them)sel(f|ves)\b",  # a death by suicide in the past: bereavement, flagged
    r"\btook (his|her|their) own li(fe|ves)\b",
    # survivor's guilt in grief ("I wish I had died instead of my sister"): not an emergency, but worth a check-in
    r"\bwish (i|it) (could have |had |would have |)(died|been me)\b",
    r"\bshould have been me\b",
)

RESOURCES_PATH = Path(__file__).parent / "data" / "crisis_resources.json"
DEFAULT_LOCALE = "default"

# {emergency}, {crisis_lines} and {crisis_line_examples} come from agent/data/crisis_resources.json by locale; the
# "default" locale gives the messages word for word as they were before the config existed.
CRISIS_TEMPLATES: dict[str, str] = {
    "suicide": (
        "I'm really glad you told me, and I'm worried about your safety. I'm an AI and can't give you the help you "
        "deserve, but people can, right now: if you or someone with you is in danger, call {emergency}. You can "
        "also {crisis_lines}, and please tell someone you trust what is going on. You don't have to face this alone."
    ),
    "self_harm": (
        "Thank you for telling me; that took courage, and your safety matters. I'm an AI and can't keep you safe, "
        "but people can: if you are hurt or in danger, call {emergency}. A crisis line can help too, "
        "{crisis_line_examples}, and so can someone you trust. You don't have to carry this alone."
    ),
    "abuse": (
        "I'm so sorry this is happening; it is not your fault, and you deserve to be safe. I'm an AI and can't "
        "protect you, but people can: if you are in danger now, call {emergency}. A domestic abuse or crisis "
        "helpline in your country, or someone you trust, can help you plan what to do next."
    ),
    "medical_emergency": (
        "This sounds like it could be a medical emergency. Please call {emergency} now, or ask someone nearby to "
        "call for you. I'm an AI and can't give medical help, but the people on that line can."
    ),
    # risk to someone else ("my friend says she wants to die"): the person writing is the one who can reach help
    "third_party": (
        "I'm really glad you told me; it sounds like someone you care about may be in danger, and that is a lot to "
        "carry. I'm an AI and can't help them directly, but people can: if they are in danger now, call "
        "{emergency}, and stay with them if you safely can. You can also {crisis_lines}, for them or with them. "
        "Please don't keep this to yourself; tell someone you trust too."
    ),
}


def load_resources(path: Path = RESOURCES_PATH) -> dict[str, dict[str, str]]:
    """Where help is, by locale; ValueError naming the file for a malformed config."""
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
        resources = {locale: {key: str(value) for key, value in entry.items()}
                     for locale, entry in table.items() if not locale.startswith("_")}
        missing = {"emergency", "crisis_lines", "crisis_line_examples", "help_short"} - set(resources[DEFAULT_LOCALE])
    except (OSError, ValueError, KeyError, AttributeError) as err:
        raise ValueError(f"{path}: not a crisis resources config ({type(err).__name__}: {err})") from None
    if missing:
        raise ValueError(f"{path}: the default locale lacks {', '.join(sorted(missing))}")
    return resources


def resources_for(locale: str | None = None) -> dict[str, str]:
    """The resources of `locale` ("en-GB"), else of its language region-less match, else the default ones."""
    resources = load_resources()
    chosen = dict(resources[DEFAULT_LOCALE])
    for key in (locale or "", (locale or "").split("-")[0]):
        if key and key in resources:
            chosen.update(resources[key])
            break
    return chosen


CRISIS_MESSAGES: dict[str, str] = {kind: template.format(**resources_for())
                                   for kind, template in CRISIS_TEMPLATES.items() if kind != "third_party"}

# When several kinds are present, the most urgent message is the one shown.
FLAG_PRIORITY: tuple[str, ...] = ("medical_emergency", "suicide", "self_harm", "abuse")


@dataclass(frozen=True)
class SafetyCheck:
    flags: tuple[str, ...]  # crisis kinds found unnegated, plus "near_crisis" for negated or softer phrases
    matches: tuple[str, ...]  # the normalised phrases that matched, for the session log

    @property
    def crisis(self) -> bool:
        return any(flag in CRISIS_FLAGS for flag in self.flags)


def _edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein (optimal string alignment): a swapped pair of letters is one typo."""
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        rows[i][0] = i
    for j in range(len(b) + 1):
        rows[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[-1][-1]


def _correct_word(word: str) -> str:
    if len(word) < 5 or word in TYPO_VOCABULARY or word in REAL_WORDS:
        return word
    for target in TYPO_VOCABULARY:
        allowed = 1 if len(target) <= 7 else 2
        if word[0] == target[0] and abs(len(word) - len(target)) <= allowed:
            if _edit_distance(word, target) <= allowed:
                return target
    return word


def normalise(text: str) -> str:
    """Lower case, apostrophes dropped ("don't" -> "dont"), other punctuation kept as clause breaks, typos fixed."""
    # accents off ("más" -> "mas", "schlägt" -> "schlagt"), so other languages match on plain letters
    folded = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    lowered = folded.lower().replace("\u2019", "'").replace("'", "")
    lowered = re.sub(r"([a-z])\1{2,}", r"\1\1", lowered)  # "soooo" -> "soo"
    words = re.findall(r"[a-z]+|[^a-z\s]", lowered)
    corrected = [_correct_word(w) if w.isalpha() else w for w in words]
    return " ".join(corrected)


def _negated(normalised: str, start: int) -> bool:
    clause_start = max(normalised.rfind(mark, 0, start) for mark in (".", ",", ";", "!", "?", " but "))
    before = normalised[clause_start + 1:start]
    return bool(NEGATION_BEFORE.search(before))


def _names_a_death(normalised: str, start: int) -> bool:
    clause_start = max(normalised.rfind(mark, 0, start) for mark in (".", ";", "!", "?"))
    return bool(DEATH_CAUSE_BEFORE.search(normalised[clause_start + 1:start]))


def check(text: str) -> SafetyCheck:
    """The crisis kinds in `text` (unnegated), and near_crisis for negated mentions or softer hopeless phrases."""
    normalised = normalise(text or "")
    flags: list[str] = []
    matches: list[str] = []
    near = False
    for flag, patterns in CRISIS_PATTERNS.items():
        for pattern in patterns:
            for found in re.finditer(pattern, normalised):
                # "dont want to live" carries its own negation: negation only counts when it sits before the phrase.
                if _negated(normalised, found.start()) or _names_a_death(normalised, found.start()):
                    near = True
                    continue
                if flag not in flags:
                    flags.append(flag)
                matches.append(found.group(0))
    if any(re.search(p, normalised) for p in NEAR_CRISIS_PATTERNS):
        near = True
    ordered = [f for f in FLAG_PRIORITY if f in flags]
    if near and not ordered:
        ordered.append(NEAR_CRISIS_FLAG)
    return SafetyCheck(flags=tuple(ordered), matches=tuple(matches))


def crisis_message(flags: tuple[str, ...], locale: str | None = None, third_party: bool = False) -> str:
    """The fixed caring message for the most urgent crisis kind among `flags`, with the resources of `locale`.
    Risk to someone else (suicide or self-harm of a friend, a sister, ...) has its own message; a medical emergency
    or abuse keeps theirs, which already speak to whoever is there."""
    kind = next((flag for flag in FLAG_PRIORITY if flag in flags), "suicide")
    if third_party and kind in ("suicide", "self_harm"):
        kind = "third_party"
    return CRISIS_TEMPLATES[kind].format(**resources_for(locale))
