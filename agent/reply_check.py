"""The reply check: does a generated reply fit the appraisal it was built on?

Each rule returns a problem in words, or nothing. What counts as a claim to have feelings (a decision):
conventional courtesy is fine ("I'm sorry", "I'm glad", "I'm so happy for you", "I'm here"), because people read it
as care, not as a report of an inner life; first-person feeling reports and shared experience are not
("I feel sad too", "I felt the same", "it breaks my heart", "as someone who feels", "I know exactly how you feel",
"I've been there", "that happened to me too").
"""

from __future__ import annotations

import re
from collections import Counter

from agent.contracts import Appraisal
from agent.topic import off_topic_question

NEGATIVE_EMOTIONS = frozenset({"anger", "disgust", "fear", "sadness"})
MAX_SENTENCES = 3
MIN_WORDS = 4
MAX_WORDS = 45  # ~3 short sentences; longer replies from a small model are rambles
# One sentence longer than this is a ramble too: of the 135M model's sentences over 24 words in the ED valid run,
# nearly all made no sense ("How have the things in life always seem to be making us feel stuck and uncertain ...")
MAX_SENTENCE_WORDS = 24

CONDOLENCE = re.compile(
    r"\b(sorry|condolence|my sympathies|so sad|sad to hear|that'?s (hard|tough|rough|awful|terrible)|"
    r"must (be|have been) (hard|difficult|painful|tough)|unfortunately|that sucks|heartbreaking|"
    r"i'?m here for you|hang in there|painful)\b", re.I)
CHEER = re.compile(
    r"\b(congrat\w*|(it|that|this)'?s? (so |really )?(great|awesome|amazing|wonderful|fantastic|exciting)|"
    r"how (exciting|wonderful|fun)|yay|hooray|woo+hoo|so happy for you|happy for you|good for you|great news|"
    r"well done|what a treat|lucky you|glad to hear|awesome|fantastic|wonderful|amazing|celebrat\w*|"
    r"(so|very|really) proud|proud of (you|yourself)|you'?re doing great|(i'?m|i am) so glad)\b", re.I)
ADVICE = re.compile(
    r"\b(you should|you need to|you must|you have to|you ought to|try to|try (and|not)|have you tried|"
    r"why don'?t you|i (suggest|recommend|advise)|my advice|make sure|it'?s best to|consider (\w+ing|talking|"
    r"seeing|getting)|the best thing (to do|is)|don'?t forget to|remember to|just (relax|calm down|get over|move on)|"
    r"you could (try|always)|it might help to|focus on|you('re| are) going to have to|you will have to|"
    r"you can always|just (say|do|tell|ask|go|call|ignore|let it go)|talk to (your|a |an |someone|them|him|her))\b",
    re.I)
DIAGNOSIS = re.compile(
    r"\b(diagnos\w*|you (have|might have|may have|probably have|could have|seem to have|are suffering from) "
    r"(a |an )?(\w+ )?(depression|anxiety|disorder|ptsd|adhd|ocd|bipolar|trauma|condition|syndrome|illness)|"
    r"(sounds|seems) like (clinical |major )?(depression|anxiety disorder|ptsd|adhd|ocd|bipolar|a disorder|"
    r"a panic disorder)|symptoms? of|you are (clinically )?(depressed|bipolar|traumati[sz]ed)|disorder\b)", re.I)
FEELING_CLAIM = re.compile(
    r"\b(i (feel|felt|am feeling|'m feeling|have felt)\b(?! (like )?(that )?you)|i'?m (so |very |really )?"
    r"(sad|upset|angry|scared|heartbroken|crying|hurt|devastated|lonely|anxious|nervous|excited) (too|as well|"
    r"for you)|i'?m (so |very |really )?(glad|happy|excited) (about (it|that|this) )?(too|as well)|"
    r"i'?m (so |very |really )?excited about|i (cried|was heartbroken|was devastated)|(breaks|broke) my heart|"
    r"makes me (sad|cry|angry|happy)|"
    r"as (someone|a person|a human) who (feels|has felt)|i know (exactly )?how you feel|i'?ve been there|"
    r"(that|it|this) happened to me|same (thing )?happened to me|me too|i went through|makes me (want|feel)|"
    r"i (love|hate|enjoy) it when)\b", re.I)
# Words of suicide or self-harm the person never used ("when the things that make your life worth living seem
# impossible" to someone nervous about an interview): a small model's slip that could frighten or suggest.
SELF_HARM_TALK = re.compile(r"\b(worth living|suicid\w*|kill(ing)? (yourself|myself|themselves)|end(ing)? (your|my|"
                            r"their) (own )?life|self-harm\w*|hurt(ing)? yourself|want(ed)? to die)\b", re.I)
# A death the person never spoke of ("What will you do now that she passed away?" to a forgotten birthday).
DEATH_WORDS = re.compile(r"\b(passed away|died|dead|death|funeral|rest in peace|your loss|lost (him|her|them))\b",
                         re.I)
# Condolence for a loss is wrong when nobody lost anything ("sorry for your loss" to a spilled coffee).
LOSS_CONDOLENCE = re.compile(r"\b(sorry (for|about) your loss|my condolences|rest in peace|may (he|she|they) rest)\b",
                             re.I)
LOSS_CUES = re.compile(r"\b(died|dead|death|passed|lost|loss|losing|funeral|gone|put (him|her|it) down|to sleep|"
                       r"miss(ing)? (him|her|them|my)|grie\w*|broke up|divorce)", re.I)
# Words that no cheer may answer, whatever the appraisal read: death, illness, loss, being left or hurt.
DISTRESS_CUES = re.compile(r"\b(died|dead|death|passed away|passing|funeral|cancer|terminal|hospital|miscarr\w*|"
                           r"grie\w*|mourn\w*|divorce|broke up|dumped|fired|laid off|lost my|losing my|"
                           r"put (him|her|it) down|to sleep|abus\w*|hit me|hurt me|cheated on|cheating on)\b", re.I)
# Set phrases with a loss word and no loss in them ("my long lost friend works at my new firm").
NOT_A_LOSS = re.compile(r"\b(long[- ]lost|lost track|lost weight|lost (my|the) way|gone (by|through)|passed over|"
                        r"passed (my|the|a|an|all|both) \w+)\b", re.I)
# To words that show no feeling, neither condolence nor big cheer: the reply must not invent the person's mood.
OVERREACTION = re.compile(r"\b(congrat\w*|wonderful|amazing|fantastic|awesome|so proud|celebrat\w*)\b", re.I)
# A small model slips into telling its own life ("it makes me appreciate what I already have", "like my new laptop",
# "I'll see you in the store tomorrow"): the agent has no life, no things and no meetings, and the person came to be
# heard, not to hear about it. Any "my <thing>" counts, bar the few set phrases of sympathy.
SELF_STORY = re.compile(
    r"\b(makes? me (appreciate|think|remember|realize|realise|grateful|wonder)|my own|i (already )?have (a|an|my|"
    r"two|three|kids|children|pets?)\b|when i was (a|young|little|your age)|i remember (when|my)|i used to|"
    r"my (?!condolences|pleasure|best|sympathies|heart goes out)[a-z]+|(i'?ll|i will|we'?ll) see you|"
    r"see you (tomorrow|soon|there|later|in|at)|i('?ll| will) never forget|"
    r"(in|at) the (store|office|shop) (tomorrow|today))\b", re.I)
# People the person never mentioned ("How about your son?" to someone who spoke of a dog): invented, and it shows.
PEOPLE = ("son", "daughter", "kids", "children", "child", "wife", "husband", "partner", "boyfriend", "girlfriend",
          "mom", "mum", "mother", "dad", "father", "parents", "brother", "sister", "grandma", "grandmother",
          "grandpa", "grandfather", "boss", "baby", "teacher", "roommate")  # not "family": everyone has one
YOUR_PERSON = re.compile(r"\byour (" + "|".join(PEOPLE) + r")\b", re.I)
RELATED_WORDS = {"kids": ("kid", "child", "children", "son", "daughter"),
                 "children": ("kid", "child", "son", "daughter"),
                 "child": ("kid", "son", "daughter", "baby"), "baby": ("pregnant", "born", "newborn", "expecting"),
                 "parents": ("mom", "mum", "dad", "mother", "father"),
                 "mom": ("mother", "mum", "mommy"), "mum": ("mother", "mom"), "mother": ("mom", "mum"),
                 "dad": ("father", "daddy"), "father": ("dad",), "grandma": ("grandmother", "nana"),
                 "grandmother": ("grandma", "nana"), "grandpa": ("grandfather",), "grandfather": ("grandpa",)}
# Stage directions ("(laughs)", "*hugs*") are chat-forum habits of small models; in a reply they read as mockery.
STAGE_DIRECTION = re.compile(
    r"\((laugh|smile|sigh|hug|nod|grin|chuckle|giggle|wink|cr(y|ies))\w*[^)]*\)|\*[^*\n]{1,30}\*", re.I)
# Words that push the person away ("Ugh, how frustrating. What's wrong with you?", "What was going on with them,
# huh?"): blame, dismissal or sarcasm read as hostility, whatever came before.
DISMISSIVE = re.compile(
    r"(\bwhat'?s wrong with you|\bwhat is wrong with you|\bget over it|\bso what\b|\bbig deal\b|\bwhatever\b|"
    r"\bcalm down\b|\bgrow up\b|\bstop (whining|complaining)|\bhuh\s*\?|\byour (own )?fault\b|"
    r"\bi don'?t know what you'?re talking about)", re.I)
ROLE_LEAK = re.compile(r"(<\|im_|\buser:|\bassistant:|\bsystem:|\[inst\])", re.I)
# An assistant's refusal or disclaimer ("I'm sorry, but I can't assist with that." from Qwen2.5-0.5B to someone
# given too much change): instruction-tuned models say it to anything that looks like a request they decline.
REFUSAL = re.compile(r"\b(i'?m sorry,? but i can(no|'?)t|i can(no|'?)t (assist|help) with (that|this)|as an ai\b|"
                     r"as a (language model|chatbot|virtual assistant)|i'?m (just |only )?an? (ai|language model|"
                     r"chatbot|virtual assistant))", re.I)
# Emoji and pictographs ("hugs 🌍✨💚❤️"): a small model's filler, which a caring listener in plain words does not use
PICTOGRAPHS = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F]")
SENTENCE_END = re.compile(r"[.!?…][\"')\]]*$")


def sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?…])[\"')\]]*\s+", text.strip())
    return [p for p in parts if p.strip()]


def trim_to_sentence(text: str) -> str:
    """Cut a reply back to its last complete sentence (a reply stopped by max_tokens ends mid-sentence);
    whole when no sentence ends in it."""
    text = " ".join(text.split())
    ends = [m.end() for m in re.finditer(r"[.!?…][\"')\]]*(?=\s|$)", text)]
    if not ends:
        return text
    return text[:ends[-1]].strip()


def has_loop(text: str) -> bool:
    """A repetition loop: a word three times in a row, a sentence said twice, or a 4-word run repeated."""
    words = re.findall(r"[a-z']+", text.lower())
    if any(words[i] == words[i + 1] == words[i + 2] for i in range(len(words) - 2)):
        return True
    said = [re.sub(r"\W+", " ", s.lower()).strip() for s in sentences(text)]
    if len(said) != len(set(said)):
        return True
    grams = Counter(tuple(words[i:i + 4]) for i in range(len(words) - 3))
    return any(count > 1 for count in grams.values())


def is_distress(appraisal: Appraisal) -> bool:
    return appraisal.emotion in NEGATIVE_EMOTIONS and appraisal.need != "celebration"


def is_good_news(appraisal: Appraisal) -> bool:
    return appraisal.need == "celebration" or appraisal.emotion == "joy"


def problems(reply: str, appraisal: Appraisal, user_text: str = "") -> list[str]:
    """Every way `reply` fails to fit `appraisal` (and the user's words, when given: the latest turn and, for who
    was mentioned, the earlier ones too); an empty list means it passes."""
    text = reply.strip()
    found: list[str] = []
    if not text:
        return ["empty reply"]
    words = text.split()
    if len(words) < MIN_WORDS:
        found.append(f"too short ({len(words)} words)")
    if len(words) > MAX_WORDS:
        found.append(f"too long ({len(words)} words)")
    reply_sentences = sentences(text)
    if len(reply_sentences) > MAX_SENTENCES:
        found.append(f"{len(reply_sentences)} sentences (at most {MAX_SENTENCES})")
    longest = max((len(sentence.split()) for sentence in reply_sentences), default=0)
    if longest > MAX_SENTENCE_WORDS:
        found.append(f"a rambling sentence ({longest} words)")
    if not SENTENCE_END.search(text):
        found.append("cut off mid-sentence")
    if ROLE_LEAK.search(text):
        found.append("chat markup or role name in the reply")
    if PICTOGRAPHS.search(text):
        found.append("emoji in the reply")
    if match := REFUSAL.search(text):
        found.append(f"an assistant's refusal or disclaimer ({match.group(0)!r})")
    if match := DISMISSIVE.search(text):
        found.append(f"dismisses or blames the person ({match.group(0)!r})")
    if match := STAGE_DIRECTION.search(text):
        found.append(f"stage direction ({match.group(0)!r})")
    if has_loop(text):
        found.append("repetition loop")
    if is_good_news(appraisal) and (match := CONDOLENCE.search(text)):
        found.append(f"condolence to good news ({match.group(0)!r})")
    if is_distress(appraisal) and (match := CHEER.search(text)):
        found.append(f"cheer to distress ({match.group(0)!r})")
    if appraisal.emotion == "neutral" and appraisal.need != "celebration" and (
            match := CONDOLENCE.search(text) or OVERREACTION.search(text)):
        found.append(f"feeling read into neutral words ({match.group(0)!r})")
    if appraisal.need == "to_be_heard" and (match := ADVICE.search(text)):
        found.append(f"advice when the need is to be heard ({match.group(0)!r})")
    if user_text and (match := CHEER.search(text)) and DISTRESS_CUES.search(user_text):
        # the appraisal can misread a loss as joy ("my sister passed away, she was the best"): the words decide
        found.append(f"cheer to words of loss or distress ({match.group(0)!r})")
    if user_text and (question := off_topic_question(text, user_text)):
        found.append(f"asks about something the person never mentioned ({question!r})")
    if user_text and (match := LOSS_CONDOLENCE.search(text)) and not names_a_loss(user_text):
        found.append(f"condolence for a loss nobody mentioned ({match.group(0)!r})")
    elif user_text and (match := DEATH_WORDS.search(text)) and not names_a_loss(user_text):
        found.append(f"speaks of a death nobody mentioned ({match.group(0)!r})")
    if (match := SELF_HARM_TALK.search(text)) and not SELF_HARM_TALK.search(user_text):
        found.append(f"speaks of self-harm the person never mentioned ({match.group(0)!r})")
    if match := SELF_STORY.search(text):
        found.append(f"tells a life of its own ({match.group(0)!r})")
    if user_text and (person := invented_person(text, user_text)):
        found.append(f"mentions someone the person never did ('your {person}')")
    if match := DIAGNOSIS.search(text):
        found.append(f"diagnosis ({match.group(0)!r})")
    if match := FEELING_CLAIM.search(text):
        found.append(f"claims to have feelings ({match.group(0)!r})")
    return found


def names_a_loss(words: str) -> bool:
    """Whether the person's words speak of a loss (a death, a breakup, "I miss him"), set phrases like "long lost"
    aside."""
    return bool(LOSS_CUES.search(NOT_A_LOSS.sub("", words)))


def invented_person(reply: str, user_text: str) -> str | None:
    """The first "your <person>" in the reply whose person (or a word for them) the user's words never name."""
    said = set(re.findall(r"[a-z]+", user_text.lower()))
    for match in YOUR_PERSON.finditer(reply):
        person = match.group(1).lower()
        names = {person, person.rstrip("s"), person + "s", *RELATED_WORDS.get(person, ())}
        if not names & said and not any(word.startswith(person) for word in said):
            return person
    return None


def passes(reply: str, appraisal: Appraisal, user_text: str = "") -> bool:
    return not problems(reply, appraisal, user_text)


def valence_consistent(reply: str, appraisal: Appraisal) -> bool:
    """The evaluation's narrower measure: no condolence to good news and no cheer to distress."""
    if is_good_news(appraisal) and CONDOLENCE.search(reply):
        return False
    if is_distress(appraisal) and CHEER.search(reply):
        return False
    return True


def asks_open_question(reply: str) -> bool:
    """A question that invites more than yes/no (what/how/why/... or "tell me")."""
    for sentence in sentences(reply):
        if sentence.rstrip("\"')").endswith("?") and re.match(
                r"^\W*(what|how|why|which|where|when|who|tell me)\b", sentence.strip(), re.I):
            return True
        if re.search(r"\b(what|how)\b[^.!?]*\?", sentence, re.I):
            return True
    return False
