"""Detection metrics: exact on image scores, streaming (fixed-bin histograms) on pixel maps.

Every metric is computed from per-threshold counts in descending score order: one "threshold" per
distinct score for the exact functions, one per histogram bin for ``PixelMetricAccumulator``. Ties
count as scikit-learn counts them (a tied positive/negative pair is half right for AUROC; tied scores
are one threshold for AP and F1).

PRO is the MVTec AD definition: at each threshold, the share of every connected ground-truth region
(8-connectivity, per image) above it, averaged over all regions of the set, against the false
positive rate over every normal pixel of the set; the area under that curve up to FPR 0.3 (linear
interpolation at 0.3, trapezoids between thresholds), divided by 0.3.

The accumulator bins each map as it arrives into ``2**16`` equal bins over the scores seen so far
(the range doubles, merging bin pairs, when a map falls outside it), so a test set is never held as
float64 at once. Binning treats the scores of one bin as tied; ``compute`` reports, beside each
figure, a bound on how far it can be from the exact one, derived from the bins themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

MAX_FPR = 0.3
DEFAULT_BINS = 1 << 16


# -- exact metrics on scores and 0/1 labels -------------------------------------------------------
def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (``sklearn.metrics.roc_auc_score`` for binary labels)."""
    return auroc_from_counts(*threshold_counts(scores, labels))


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision, Σ (R_k − R_{k−1}) P_k (``sklearn.metrics.average_precision_score``)."""
    return average_precision_from_counts(*threshold_counts(scores, labels))


def f1_max(scores: np.ndarray, labels: np.ndarray) -> float:
    """The best F1 over every threshold (a sample is positive when its score is ≥ the threshold)."""
    return f1_max_from_counts(*threshold_counts(scores, labels))


def accuracy(predicted: Iterable[object], target: Iterable[object]) -> float:
    """Share of predictions equal to their target (classification of defect types)."""
    pred, true = np.asarray(list(predicted)), np.asarray(list(target))
    if pred.shape != true.shape or pred.ndim != 1:
        raise ValueError(f"predicted and target must be equal-length sequences, got {pred.shape} and {true.shape}")
    if pred.size == 0:
        raise ValueError("accuracy of no predictions")
    return float(np.mean(pred == true))


def pro_score(score_maps: Iterable[np.ndarray], gt_masks: Iterable[np.ndarray], max_fpr: float = MAX_FPR) -> float:
    """Normalised area under the PRO curve up to ``max_fpr``, at every distinct score (exact).

    Holds every pixel of the set at once; ``PixelMetricAccumulator`` streams instead.
    """
    scores, negatives, overlaps, regions = [], [], [], 0
    for score_map, gt in zip(score_maps, gt_masks, strict=True):
        s, anomalous = _check_map(score_map, gt)
        weights, count = region_weights(anomalous)
        scores.append(s.ravel())
        negatives.append(~anomalous.ravel())
        overlaps.append(weights.ravel())
        regions += count
    if not scores:
        raise ValueError("PRO of no maps")
    values, inverse = np.unique(np.concatenate(scores), return_inverse=True)
    neg = np.bincount(inverse, weights=np.concatenate(negatives), minlength=values.size)[::-1]
    pro = np.bincount(inverse, weights=np.concatenate(overlaps), minlength=values.size)[::-1]
    return pro_from_counts(neg, pro, regions, max_fpr)


def region_weights(anomalous: np.ndarray) -> tuple[np.ndarray, int]:
    """Per pixel 1 / (area of its ground-truth region), 0 outside; and the number of regions."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(anomalous.astype(np.uint8), connectivity=8)
    inverse_area = np.zeros(count, np.float64)
    inverse_area[1:] = 1.0 / stats[1:, cv2.CC_STAT_AREA]
    return inverse_area[labels], count - 1


# -- metrics from per-threshold counts (descending score order) ------------------------------------
def threshold_counts(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positives, negatives) at each distinct score, highest score first."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite (no NaN or inf)")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1 (or booleans)")
    values, inverse = np.unique(s, return_inverse=True)
    total = np.bincount(inverse, minlength=values.size).astype(np.float64)
    pos = np.bincount(inverse, weights=y.astype(np.float64), minlength=values.size)
    return pos[::-1], (total - pos)[::-1]


def auroc_from_counts(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(positive scores above negative) + ½ P(tie), from descending per-threshold counts."""
    total_pos, total_neg = _totals(pos, neg)
    neg_below = total_neg - np.cumsum(neg)
    return float(np.sum(pos * (neg_below + 0.5 * neg)) / (total_pos * total_neg))


def average_precision_from_counts(pos: np.ndarray, neg: np.ndarray) -> float:
    total_pos, _ = _totals(pos, neg)
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    hit = pos > 0  # only thresholds that add recall contribute
    return float(np.sum(pos[hit] * tp[hit] / (tp[hit] + fp[hit])) / total_pos)


def f1_max_from_counts(pos: np.ndarray, neg: np.ndarray) -> float:
    total_pos, _ = _totals(pos, neg)
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    return float(np.max(2 * tp / (tp + fp + total_pos)))


def pro_from_counts(neg: np.ndarray, overlap: np.ndarray, regions: int, max_fpr: float = MAX_FPR) -> float:
    """Normalised PRO area from descending per-threshold normal-pixel counts and region-overlap weights."""
    fpr, pro = pro_curve(neg, overlap, regions)
    return float(area_up_to(fpr, pro, max_fpr) / max_fpr)


def pro_curve(neg: np.ndarray, overlap: np.ndarray, regions: int) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, mean region overlap) at (0, 0) and after each threshold, FPR ascending."""
    total_neg = float(np.sum(neg))
    if regions <= 0:
        raise ValueError("PRO needs at least one anomalous region in the ground truth")
    if total_neg <= 0:
        raise ValueError("PRO needs normal pixels in the ground truth")
    fpr = np.concatenate(([0.0], np.cumsum(neg) / total_neg))
    pro = np.concatenate(([0.0], np.cumsum(overlap) / regions))
    return np.clip(fpr, 0.0, 1.0), np.clip(pro, 0.0, 1.0)


def area_up_to(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoid area under (x, y) for x in [x[0], x_max] (x ascending), y interpolated at x_max."""
    inside = int(np.searchsorted(x, x_max, side="right"))
    xs, ys = x[:inside], y[:inside]
    area = float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2))
    if 0 < inside < x.size and xs[-1] < x_max:
        step = (x_max - xs[-1]) / (x[inside] - xs[-1])
        y_at = ys[-1] + step * (y[inside] - ys[-1])
        area += float((x_max - xs[-1]) * (ys[-1] + y_at) / 2)
    return area


def _totals(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    total_pos, total_neg = float(np.sum(pos)), float(np.sum(neg))
    if total_pos <= 0 or total_neg <= 0:
        raise ValueError("the metric needs both positives and negatives "
                         f"(got {total_pos:g} positives, {total_neg:g} negatives)")
    return total_pos, total_neg


def _check_map(score_map: np.ndarray, gt_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(score_map)
    gt = np.asarray(gt_mask)
    if s.ndim != 2 or s.shape != gt.shape:
        raise ValueError(f"a score map and its mask must be equal H×W, got {s.shape} and {gt.shape}")
    if not np.isfinite(s).all():
        raise ValueError("score maps must be finite (no NaN or inf)")
    return s, gt > 0


# -- streaming pixel metrics ----------------------------------------------------------------------
@dataclass(frozen=True)
class PixelMetrics:
    """Pixel-level figures of a test set and, for each, a bound on its binning error."""

    auroc: float
    average_precision: float
    f1_max: float
    pro: float
    auroc_error_bound: float
    average_precision_error_bound: float
    f1_max_error_bound: float  # the exact F1-max lies in [f1_max, f1_max + bound]
    pro_error_bound: float
    bins: int
    bin_width: float
    positives: int
    negatives: int
    regions: int


class PixelMetricAccumulator:
    """Pixel AUROC, AP, F1-max and PRO over a stream of (score map, ground-truth mask) pairs.

    ``update`` bins one map (any float range; masks: any non-zero pixel is anomalous) and keeps
    only four histograms of ``bins`` entries, so memory does not grow with the test set. Bin width
    is at most 4 × (max − min score seen) / ``bins``.
    """

    def __init__(self, bins: int = DEFAULT_BINS, max_fpr: float = MAX_FPR) -> None:
        if bins < 2 or bins & (bins - 1):
            raise ValueError(f"bins must be a power of two ≥ 2, got {bins}")
        if not 0 < max_fpr <= 1:
            raise ValueError(f"max_fpr must be in (0, 1], got {max_fpr}")
        self.bins, self.max_fpr = bins, max_fpr
        self._low: float | None = None
        self._width = 1.0
        self._pos = np.zeros(bins, np.float64)
        self._neg = np.zeros(bins, np.float64)
        self._overlap = np.zeros(bins, np.float64)  # Σ 1/region area of the anomalous pixels per bin
        self._regions = 0

    def update(self, score_map: np.ndarray, gt_mask: np.ndarray) -> None:
        """Add one image's H×W scores and its H×W mask."""
        scores, anomalous = _check_map(score_map, gt_mask)
        low, high = float(scores.min()), float(scores.max())
        if self._low is None:
            self._low, self._width = low, (high - low) or max(abs(low), 1.0)
        while low < self._low:
            self._grow(left=True)
        while high > self._low + self._width:
            self._grow(left=False)
        index = self._bin(scores).ravel()
        every = np.bincount(index, minlength=self.bins)
        mask8 = anomalous.view(np.uint8)
        x, y, w, h = cv2.boundingRect(mask8)
        if w and h:
            # Regions lie inside the mask's bounding box: label only that crop, weigh only anomalous pixels
            # (region weights, 1 / region area, are zero elsewhere).
            count, labels, stats, _ = cv2.connectedComponentsWithStats(mask8[y:y + h, x:x + w], connectivity=8)
            rows, cols = np.nonzero(mask8[y:y + h, x:x + w])  # row-major, as a flat scan of the whole map
            inside = index[(rows + y) * anomalous.shape[1] + (cols + x)]
            positives = np.bincount(inside, minlength=self.bins)
            self._pos += positives
            every -= positives
            weights = 1.0 / stats[labels[rows, cols], cv2.CC_STAT_AREA]
            self._overlap += np.bincount(inside, weights=weights, minlength=self.bins)
            self._regions += count - 1
        self._neg += every

    def _bin(self, scores: np.ndarray) -> np.ndarray:
        """Each score's bin in the current range (float64 arithmetic, as the range was grown for), in place."""
        position = np.subtract(scores, self._low, dtype=np.float64)
        position *= self.bins / self._width
        np.floor(position, out=position)
        np.clip(position, 0, self.bins - 1, out=position)
        return position.astype(np.intp)

    def _grow(self, left: bool) -> None:
        """Double the range; each new bin is exactly two old ones, so nothing already binned moves."""
        for name in ("_pos", "_neg", "_overlap"):
            merged = getattr(self, name).reshape(-1, 2).sum(axis=1)
            empty = np.zeros_like(merged)
            setattr(self, name, np.concatenate((empty, merged) if left else (merged, empty)))
        if left:
            self._low -= self._width  # type: ignore[operator]
        self._width *= 2

    def compute(self) -> PixelMetrics:
        """The figures so far (raises ``ValueError`` without both anomalous and normal pixels)."""
        pos, neg = self._pos[::-1], self._neg[::-1]  # highest scores first
        total_pos, total_neg = _totals(pos, neg)
        tp, fp = np.cumsum(pos), np.cumsum(neg)
        tp0, fp0 = tp - pos, fp - neg  # counts above each bin
        # AUROC: only pairs sharing a bin may be misordered; binned, each counts one half.
        auroc_bound = 0.5 * float(np.sum(pos * neg)) / (total_pos * total_neg)
        # AP: inside a bin, precision where recall grows (after ≥ 1 of its positives, at most all of
        # its negatives) lies between these two, whatever the order of its scores.
        hit = pos > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            p_max = (tp0 + pos) / (tp0 + pos + fp0)
            p_min = (tp0 + 1) / (tp0 + 1 + fp0 + neg)
        ap_bound = float(np.sum(pos[hit] * (p_max[hit] - p_min[hit])) / total_pos)
        f1 = f1_max_from_counts(pos, neg)
        f1_bound = float(np.max(2 * tp / (tp0 + pos + fp0 + total_pos))) - f1
        overlap = self._overlap[::-1]  # pixels were anomalous, so there is at least one region
        pro = pro_from_counts(neg, overlap, self._regions, self.max_fpr)
        fpr, curve = pro_curve(neg, overlap, self._regions)
        below = fpr[:-1] < self.max_fpr  # bins whose segment starts inside the integration range
        pro_bound = float(np.sum(0.5 * np.diff(fpr)[below] * np.diff(curve)[below])) / self.max_fpr
        return PixelMetrics(
            auroc=auroc_from_counts(pos, neg), average_precision=average_precision_from_counts(pos, neg),
            f1_max=f1, pro=pro, auroc_error_bound=auroc_bound, average_precision_error_bound=ap_bound,
            f1_max_error_bound=max(f1_bound, 0.0), pro_error_bound=pro_bound, bins=self.bins,
            bin_width=self._width / self.bins, positives=int(total_pos), negatives=int(total_neg),
            regions=self._regions)


def pixel_curves(accumulator: PixelMetricAccumulator, points: int = 200) -> dict[str, list[float]]:
    """ROC (fpr, tpr) and PR (recall, precision) of the binned pixels, thinned to about ``points`` each (plots)."""
    pos, neg = accumulator._pos[::-1], accumulator._neg[::-1]
    total_pos, total_neg = _totals(pos, neg)
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    keep = np.unique(np.linspace(0, tp.size - 1, points).round().astype(np.intp))
    keep = keep[(tp[keep] + fp[keep]) > 0]
    return {"fpr": (fp[keep] / total_neg).tolist(), "tpr": (tp[keep] / total_pos).tolist(),
            "recall": (tp[keep] / total_pos).tolist(), "precision": (tp[keep] / (tp[keep] + fp[keep])).tolist()}


def image_curves(scores: np.ndarray, labels: np.ndarray) -> dict[str, list[float]]:
    """ROC and PR points of image scores at every distinct score (plots)."""
    pos, neg = threshold_counts(scores, labels)
    total_pos, total_neg = _totals(pos, neg)
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    return {"fpr": (fp / total_neg).tolist(), "tpr": (tp / total_pos).tolist(),
            "recall": (tp / total_pos).tolist(), "precision": (tp / (tp + fp)).tolist()}
