"""The phrase_context task's evaluations: the classifier's top-1 / top-5 (Tables 1-2 analogs), the
zero-shot baseline of section 4.3, and the dual encoder's held-out pair retrieval.

Zero-shot (section 4.3): "a label's vector is its phrase's softmax weight or prototype; classify
by cosine to the image's bottleneck".  A class's terms are its normalized name (and, when the
manifest gives them, its WordNet lemmas); a term found in the phrase vocabulary takes that
phrase's vector, one that is not takes the mean vector of its words and word pairs that are
(our stand-in for the paper's "model trained on the base query set to produce an embedding for
arbitrary input text"); with several terms the one nearest the image counts (the paper's rule).
A class with no vector at all is never predicted and is counted; a second figure ranks only the
classes that have one, on their images.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from tfpipe.tasks.phrase_context import context as context_lib
from tfpipe.tasks.phrase_context import layout
from tfpipe.tasks.phrase_context import model as model_lib
from tfpipe.tasks.phrase_context.keys import model_inputs, model_key

KS = (1, 5)
SHOWN_IMAGES = 20   # test images whose top phrases and prediction go into results.json
MAX_PAIRS = 5000    # held-out pairs ranked (the first ones, in their stored order)


def shown_rows(labels: np.ndarray, n: int) -> np.ndarray:
    """The rows of the images shown (results.json's examples, TensorBoard): the first image of each
    class in class order, then the second of each, ..., until ``n`` (a split's records are stored
    by class, so its first ``n`` would show one or two classes)."""
    labels = np.asarray(labels)
    rank = np.zeros(len(labels), np.int64)
    seen: dict[int, int] = {}
    for i, c in enumerate(labels.tolist()):
        rank[i] = seen.get(c, 0)
        seen[c] = rank[i] + 1
    order = np.lexsort((labels, rank))   # by rank within the class, then by class
    return order[:n]


def classify(model_dir: str, cfg, data, split: str, *, classifier=None, ctx=None) -> dict[str, Any]:
    """Top-1 / top-5 of a multimodal (or baseline) run on ``split``, with a few test images'
    predicted phrases and classes (``shown_rows``: one per class first)."""
    import time

    from tfpipe import metrics
    from tfpipe.tasks.phrase_context import features as features_lib

    started = time.perf_counter()
    inputs = model_inputs(cfg)
    if classifier is None:
        classifier = model_lib.load(model_dir, layout.CLASSIFIER_FILE)
    if ctx is None and "context" in inputs:
        ctx = features_lib.context_model(cfg)
    part = features_lib.read(cfg, data, split)
    x = part.inputs(inputs, ctx, cfg)
    probs = np.asarray(classifier.predict(x, batch_size=cfg.eval.batch_size, verbose=0), np.float32)
    top = metrics.top_k_accuracy(probs, part.labels, KS)
    names = data.manifest.class_names
    shown = []
    phrase_ctx = ctx
    if phrase_ctx is None and model_key(cfg, "generator") and model_key(cfg, "encoder"):
        phrase_ctx = features_lib.context_model(cfg)  # the shown images' phrases, for a visual-only run too
    rows = shown_rows(part.labels, SHOWN_IMAGES)
    phrases = (phrase_ctx.top_phrases(part.features[rows], int(model_key(cfg, "top_phrases")))[0]
               if phrase_ctx and len(rows) else None)
    baseline = _baseline(cfg, part, probs)
    for j, i in enumerate(rows):
        row = {"id": part.ids[i], "label": names[int(part.labels[i])], "predicted": names[int(probs[i].argmax())]}
        if phrases is not None:
            row["phrases"] = phrases[j]
        if baseline:
            row["baseline"] = names[int(baseline["predicted"][i])]
        shown.append(row)
    cm = metrics.confusion_matrix(part.labels.tolist(), probs.argmax(axis=1).tolist(), len(names))
    out = {"images": len(part), "classes": len(names), "inputs": list(inputs),
           "context": model_key(cfg, "context") if ctx else None, "top1": top[1], "top5": top[5],
           "mean_per_class_accuracy": float(np.nanmean(metrics.per_class_accuracy(cm))),
           "chance_top1": 1.0 / len(names), "train_fraction": float(model_key(cfg, "train_fraction")),
           "examples": shown, "eval_time_s": time.perf_counter() - started}
    if baseline:
        out["baseline"] = {k: v for k, v in baseline.items() if k != "predicted"}
    return out


def _baseline(cfg, part, probs: np.ndarray) -> dict[str, Any] | None:
    """``model.baseline`` (a visual-only run) on the same images: its predictions, top-1 / top-5
    and how many images it and this run classify differently (None without a baseline)."""
    from tfpipe import metrics

    run = model_key(cfg, "baseline")
    if not run:
        return None
    classifier = model_lib.load(run, layout.CLASSIFIER_FILE)
    theirs = np.asarray(classifier.predict({"visual": part.features}, batch_size=cfg.eval.batch_size, verbose=0),
                        np.float32)
    top = metrics.top_k_accuracy(theirs, part.labels, KS)
    ours, pred = probs.argmax(axis=1), theirs.argmax(axis=1)
    right = ours == part.labels
    return {"model_dir": run, "top1": top[1], "top5": top[5], "predicted": pred,
            "differ": int((ours != pred).sum()), "only_ours_right": int((right & (pred != part.labels)).sum()),
            "only_baseline_right": int((~right & (pred == part.labels)).sum())}


# --------------------------------------------------------------------------- zero-shot


def _grams(phrase: str) -> list[str]:
    words = phrase.split()
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


def term_vectors(terms: Sequence[str], vocabulary: Sequence[str], vectors: np.ndarray) -> tuple[list, dict[str, int]]:
    """Each term's vector: its phrase's row when the vocabulary has it ("exact"), else the mean of
    the rows of its words and word pairs that are phrases ("composed"), else None ("missing")."""
    row = {p: i for i, p in enumerate(vocabulary)}
    out, counts = [], {"exact": 0, "composed": 0, "missing": 0}
    for term in terms:
        if term in row:
            out.append(vectors[row[term]])
            counts["exact"] += 1
            continue
        parts = [row[g] for g in _grams(term) if g in row]
        if parts:
            out.append(vectors[parts].mean(axis=0))
            counts["composed"] += 1
        else:
            out.append(None)
            counts["missing"] += 1
    return out, counts


def class_terms(data) -> list[list[str]]:
    """Each class's normalized terms (section 4.3, "the terms in the synset corresponding to the
    label"): its name, the lemmas of its WordNet synset when the manifest's class table gives one,
    else its head noun (``"pink primrose"`` -> ``"primrose"``: the class is a kind of that)."""
    from tfpipe.text import wordnet
    from tfpipe.text.phrases import normalize

    table = {int(c.get("index", i)): c for i, c in enumerate(getattr(data.manifest, "classes", None) or [])}
    out = []
    for i, name in enumerate(data.manifest.class_names):
        terms = [normalize(name.replace("_", " "))]
        synset = (table.get(i) or {}).get("synset") or ""
        if synset:
            terms += [normalize(lemma.replace("_", " ")) for lemma in wordnet.lemmas(synset)]
        else:
            terms.append(normalize(wordnet.head_noun(name)))
        out.append([t for t in dict.fromkeys(terms) if t])
    return out


def zero_shot_scores(x: np.ndarray, terms: list[list[str]], vocabulary: Sequence[str],
                     vectors: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """``scores [n, C]``: per class, the largest cosine between the image's bottleneck ``x`` and
    one of its terms' vectors (``-inf`` for a class without one); and the coverage counts."""
    flat = [t for ts in terms for t in ts]
    vecs, counts = term_vectors(flat, vocabulary, np.asarray(vectors, np.float32))
    ux = context_lib.unit(x)
    scores = np.full([len(x), len(terms)], -np.inf, np.float32)
    at = 0
    uncovered = []
    for c, ts in enumerate(terms):
        mine = [v for v in vecs[at:at + len(ts)] if v is not None]
        at += len(ts)
        if mine:
            scores[:, c] = (ux @ context_lib.unit(np.stack(mine)).T).max(axis=1)
        else:
            uncovered.append(c)
    return scores, {**counts, "terms": len(flat), "classes_without_vector": len(uncovered),
                    "uncovered": uncovered}


def zero_shot(model_dir: str, cfg, data, split: str) -> dict[str, Any]:
    """Section 4.3's zero-shot baseline on a downstream features directory: top-1 with the softmax
    weights ``w_c`` and with the prototypes ``phi_c`` as label vectors, against chance."""
    from tfpipe import metrics
    from tfpipe.data.feature_records import read_split
    from tfpipe.index.query_index import QueryIndex

    x_feat, labels = read_split(data, split, batch_size=1024, verify=cfg.data.verify)
    bottleneck = model_lib.load(model_dir, layout.BOTTLENECK_FILE)
    x = np.asarray(bottleneck.predict(x_feat, batch_size=cfg.eval.batch_size, verbose=0), np.float32)
    terms = class_terms(data)
    present = sorted(set(labels.tolist()))
    out: dict[str, Any] = {"images": int(len(labels)), "classes": len(terms), "classes_present": len(present),
                           "chance_top1": 1.0 / len(present), "rows": {}}
    for name, sub in context_lib.INDEX_DIRS.items():
        path = os.path.join(model_dir, sub)
        if not os.path.isdir(path):
            out["rows"][name] = {"missing": path}
            continue
        index = QueryIndex.load(path)
        scores, coverage = zero_shot_scores(x, terms, index.phrases, index.index.vectors)
        scores = scores[:, present]
        y = np.searchsorted(present, labels)
        finite = np.where(np.isfinite(scores), scores, np.float32(-1e9))
        top = metrics.top_k_accuracy(finite, y, KS)
        row = {"top1": top[1], "top5": top[5], "phrases": len(index.phrases),
               "coverage": {k: v for k, v in coverage.items() if k != "uncovered"},
               "classes_without_vector": [terms[c][0] for c in coverage["uncovered"]]}
        # Among the classes that have a vector only (their images, those candidates): how well the
        # vectors rank when a class can be predicted at all.
        covered = np.flatnonzero(np.isfinite(scores[0])) if len(scores) else np.zeros([0], np.int64)
        mine = np.isin(y, covered)
        if len(covered) > 1 and mine.any():
            sub = metrics.top_k_accuracy(scores[mine][:, covered], np.searchsorted(covered, y[mine]), (1,))
            row["covered"] = {"classes": int(len(covered)), "images": int(mine.sum()), "top1": sub[1],
                              "chance_top1": 1.0 / len(covered)}
        out["rows"][name] = row
    return out


# --------------------------------------------------------------------------- the dual encoder


def pair_retrieval(tower, phrases: Sequence[str], first: np.ndarray, second: np.ndarray,
                   max_pairs: int = MAX_PAIRS) -> dict[str, Any] | None:
    """Held-out phrase pairs: the rank of each pair's partner among all other phrases by cosine
    of the tower's embeddings (both directions), R@1 / R@10, median rank, and chance R@10."""
    if not len(first):
        return None
    first, second = np.asarray(first)[:max_pairs], np.asarray(second)[:max_pairs]
    emb = context_lib.embed_phrases(tower, phrases)
    ranks = []
    for a, b in ((first, second), (second, first)):
        sims = emb[a] @ emb.T                       # [pairs, P]
        sims[np.arange(len(a)), a] = -np.inf        # a phrase is not its own partner
        true = sims[np.arange(len(a)), b][:, None]
        ranks.append(1 + (sims > true).sum(axis=1))
    r = np.concatenate(ranks)
    others = len(phrases) - 1
    return {"pairs": int(len(first)), "r1": float(np.mean(r <= 1)), "r10": float(np.mean(r <= 10)),
            "median_rank": float(np.median(r)), "chance_r10": min(1.0, 10 / max(others, 1))}


# --------------------------------------------------------------------------- printing


def _zero_shot_lines(what: str, results: dict[str, Any]) -> list[str]:
    lines = [f"zero-shot on {what} ({results['images']} images, {results['classes_present']} classes; chance "
             f"{100 * results['chance_top1']:.2f} %)"]
    for name, row in results["rows"].items():
        if "missing" in row:
            lines.append(f"  {name}: no index ({row['missing']})")
            continue
        cov = row["coverage"]
        lines.append(f"  {name} ({row['phrases']} phrases): top-1 {100 * row['top1']:.2f} %, top-5 "
                     f"{100 * row['top5']:.2f} %; terms exact {cov['exact']}, composed {cov['composed']}, "
                     f"missing {cov['missing']}; {cov['classes_without_vector']} classes without a vector")
        if "covered" in row:
            c = row["covered"]
            lines.append(f"    among the {c['classes']} classes with a vector ({c['images']} images): top-1 "
                         f"{100 * c['top1']:.2f} % (chance {100 * c['chance_top1']:.2f} %)")
    return lines


def format_results(results: dict[str, Any]) -> str:
    if "top1" in results:
        lines = [f"{'+'.join(results['inputs'])} classifier on {results['dataset']} {results['split']} "
                 f"({results['images']} images, {results['classes']} classes, train fraction "
                 f"{results['train_fraction']:g}): top-1 {100 * results['top1']:.2f} %, top-5 "
                 f"{100 * results['top5']:.2f} % (chance {100 * results['chance_top1']:.2f} %)"]
        base = results.get("baseline")
        if base:
            lines.append(f"  visual-only baseline ({base['model_dir']}): top-1 {100 * base['top1']:.2f} %, top-5 "
                         f"{100 * base['top5']:.2f} %; {base['differ']} images classified differently "
                         f"({base['only_ours_right']} right only here, {base['only_baseline_right']} only there)")
        for row in results.get("examples", [])[:5]:
            phrases = f" [{'; '.join(row['phrases'])}]" if "phrases" in row else ""
            other = f" (visual-only: {row['baseline']})" if "baseline" in row else ""
            lines.append(f"  {row['id']}: {row['label']} -> {row['predicted']}{other}{phrases}")
    elif "phrase_ranking" in results:
        r = results["phrase_ranking"]
        lines = [f"phrase generator: {r['images']} held-out images, eq. 1 over {results['softmax_phrases']} softmax "
                 f"phrases: precision@1 {100 * r['precision_at_1']:.1f} %, precision@10 "
                 f"{100 * r['precision_at_10']:.1f} %, AP@10 {100 * r['ap_at_10']:.1f} %; "
                 f"{results['prototype_phrases']} phrases have a prototype"]
        for name, z in results.get("zero_shot", {}).items():
            lines += _zero_shot_lines(f"{name} {z['split']}", z)
    elif "rows" in results:
        lines = _zero_shot_lines(f"{results['dataset']} {results['split']}", results)
    else:
        lines = [str(results)]
    if results.get("training_time_s") is not None:
        lines.append(f"  training time {results['training_time_s']:.1f} s")
    return "\n".join(lines)
