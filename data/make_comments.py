"""Writes data/comments.csv: short forum-style comments about gardening, one per row.

The text is generated here from a small grammar with a fixed seed (nothing is copied from
elsewhere), so ``python data/make_comments.py`` always writes the same file. It is the example
corpus of ``configs/classic-word-lstm.yaml``: many short documents with a vocabulary of a few
hundred words.
"""

import csv
import random
from pathlib import Path

PLANTS = ["tomatoes", "beans", "peas", "carrots", "onions", "garlic", "leeks", "potatoes", "courgettes",
          "squash", "lettuce", "spinach", "kale", "chard", "beetroot", "radishes", "strawberries",
          "raspberries", "gooseberries", "apples", "pears", "plums", "sunflowers", "dahlias", "sweet peas",
          "marigolds", "nasturtiums", "parsnips", "cabbages", "sprouts", "chillies", "peppers", "cucumbers"]
PESTS = ["slugs", "snails", "aphids", "pigeons", "blackfly", "whitefly", "caterpillars", "mice", "rabbits",
         "the neighbour's cat", "vine weevils", "wireworms"]
WEATHER = ["the rain", "the frost", "the wind", "the heat", "the drought", "a late frost", "the hail",
           "two weeks of sun", "the damp"]
TOOLS = ["hoe", "fork", "spade", "rake", "trowel", "wheelbarrow", "watering can", "hose", "secateurs"]
PLACES = ["raised bed", "greenhouse", "polytunnel", "cold frame", "allotment", "back garden", "window box",
          "patio pots", "compost heap"]
GOOD = ["brilliant", "great", "lovely", "excellent", "decent", "better than last year", "a real success"]
BAD = ["a disaster", "disappointing", "pretty poor", "a complete failure", "worse than last year", "patchy"]
MONTHS = ["March", "April", "May", "June", "July", "August", "September", "October"]
OPENERS = ["", "", "", "Honestly, ", "Well, ", "Update: ", "Quick question: ", "Same here. ", "Agreed. ",
           "Ha, ", "Good point. "]


def sentence(r):
    p, q = r.choice(PLANTS), r.choice(PLANTS)
    forms = [
        lambda: f"My {p} were {r.choice(GOOD)} this year.",
        lambda: f"The {p} were {r.choice(BAD)} because of {r.choice(WEATHER)}.",
        lambda: f"Has anyone else had trouble with {r.choice(PESTS)} on their {p}?",
        lambda: f"I sow {p} in {r.choice(MONTHS)} and plant them out in {r.choice(MONTHS)}.",
        lambda: f"Try growing {p} next to {q}, it seems to keep the {r.choice(PESTS)} away.",
        lambda: f"Don't bother with {p} in a {r.choice(PLACES)}, they need more room.",
        lambda: f"I've just bought a new {r.choice(TOOLS)} and it's {r.choice(GOOD)}.",
        lambda: f"Does anyone know why my {p} keep bolting?",
        lambda: f"We had {r.randint(2, 40)} kilos of {p} from one {r.choice(PLACES)}!",
        lambda: f"The {r.choice(PESTS)} ate half of my {p} again.",
        lambda: f"Water the {p} in the evening, not at midday.",
        lambda: f"Thanks, I'll try that with the {p}.",
        lambda: f"It's too late for {p} now, wait until {r.choice(MONTHS)}.",
        lambda: f"Mulch the {p} well and they'll look after themselves.",
        lambda: f"My {r.choice(PLACES)} is full of {p} and {q} this {r.choice(['spring', 'summer', 'autumn'])}.",
        lambda: f"Why do my {p} always split after {r.choice(WEATHER)}?",
        lambda: f"(I lost my {r.choice(TOOLS)} in the {r.choice(PLACES)} again.)",
        lambda: f'My grandmother always said "{p} hate {r.choice(WEATHER)}" and she was right.',
    ]
    return r.choice(forms)()


def main():
    r = random.Random(5)
    rows = []
    for i in range(2000):
        opener, text = r.choice(OPENERS), " ".join(sentence(r) for _ in range(r.choice([1, 1, 1, 2, 2, 3])))
        if opener.endswith(", ") and not text.startswith("I"):
            text = text[0].lower() + text[1:]
        text = opener + text
        rows.append([i + 1, f"user{r.randint(1, 400)}", r.randint(0, 60), text])
    path = Path(__file__).resolve().parent / "comments.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "author", "score", "body"])
        writer.writerows(rows)


if __name__ == "__main__":
    main()
