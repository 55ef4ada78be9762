"""Write the teaching notebooks (one per experiment of dtd.experiments) with nbformat, without outputs.

Run from the repository root: ``python notebooks/make_notebooks.py``. Each notebook runs its
experiment in quick mode (the shipped weights, a few samples) into ``out/`` beside the
working directory and shows the table and the figures; ``tests/test_notebooks.py`` executes them.
``00_derivations.ipynb`` runs no experiment: it computes each rule's derivation (cells in ``_derivations.py``).
``python notebooks/make_notebooks.py NAME...`` writes only the named notebooks.
"""
import runpy
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def experiment_notebook(module, intro, figures):
    """Cells: the introduction, the quick run with its table, then each figure after its caption."""
    out = f"out/{module}"
    cells = [new_markdown_cell(intro), new_code_cell("\n".join([
        "from pathlib import Path",
        "from IPython.display import Image, Markdown, display",
        f"from dtd.experiments import {module}",
        "",
        f"result = {module}.run(quick=True, out={out!r}, progress=False)",
        f"display(Markdown(Path({out!r}, 'results.md').read_text()))"]))]
    for caption, file in figures:
        if caption:
            cells.append(new_markdown_cell(caption))
        cells.append(new_code_cell(f"display(Image(str(Path({out!r}, {file!r}))))"))
    return cells


DETECTION = """# Deep Taylor decomposition of a detection-pooling network (MNIST)

Seed 001, *Example MNIST*. A network with one hidden layer of 400 ReLU units,
$x_j = \\max(0, \\sum_i x_i w_{ij} + b_j)$ with $b_j \\le 0$, and a sum-pooling output
$x_k = \\sum_j x_j$ detects a digit 0-3 in a 28 x 56 image next to a distracting digit 4-9.
It was trained in NumPy by SGD with batch size 20 (`dtd.train`) and is shipped in `data/`.

Deep Taylor decomposition explains $f(x) = x_k$ in two steps: the sum gives $R_j = x_j$
(root point $\\{\\tilde x_j\\} = 0$); the detection layer is decomposed at a root point
found along a search direction chosen by the input domain,
$R_i = \\sum_j q_{ij} / \\sum_{i'} q_{i'j} \\, R_j$:

| rule | domain | search direction $v_i^{(j)}$ | $q_{ij}$ |
|---|---|---|---|
| $w^2$ | $\\mathbb{R}^d$ | $w_{ij}$ | $w_{ij}^2$ |
| $z^+$ | $\\mathbb{R}_+^d$ | $x_i 1_{w_{ij} \\ge 0}$ | $x_i w_{ij}^+$ |
| $z^B$ | $[0, 1]^d$ | $x_i - l_i 1_{w_{ij}>0} - h_i 1_{w_{ij}<0}$ | $x_i w_{ij} - l_i w_{ij}^+ - h_i w_{ij}^-$ |

Each is *consistent*: conservative ($\\sum_p R_p = f(x)$) and positive ($R_p \\ge 0$).
The quick run below checks both on test pairs; pixel flipping measures how selective each heatmap is."""

DEEP = """# Deep networks: the training-free and the min-max relevance models

Seed 001, *Application to Deep Networks*. The same task is solved by a CNN with
convolution-ReLU-sum-pooling blocks and a sum at the top (all biases $\\le 0$).

**Training-free model.** When the layer above is explained by the $z^+$ rule, a neuron's relevance
is its activation times a factor held constant, so each detection-pooling pair of layers is a
one-layer network: pooling $R_j = x_j / \\sum_{j'} x_{j'} \\, R_k$, detection by $z^+$
($z^B$ at the pixels). Consistent.

**Min-max model.** The relevance $R_k$ of a unit of the second block is *learnt* from the
activations below it and the upper-layer relevances $R_l$:

$$y_j = \\max(0, \\textstyle\\sum_i x_i v_{ij} + a_j), \\quad a_j = \\min(0, \\sum_l R_l v_{lj} + d_j), \\quad
\\hat R_k = \\sum_j y_j,$$

fitted by least squares $\\min \\langle (\\hat R_k - R_k)^2 \\rangle$ (`dtd.minmax`), then explained by the
one-layer rules ($R_j = y_j$, then $z^+$). It is only approximately consistent: its error is the
fitting error."""

TAYLOR = """# Sensitivity analysis and simple Taylor decomposition

Seed 001, *Taylor Expansion and Sensitivity Analysis*. A first-order Taylor expansion at a root
point $\\tilde x$ ($f(\\tilde x) = 0$) gives
$f(x) = \\sum_p \\partial f / \\partial x_p |_{\\tilde x} (x_p - \\tilde x_p) + \\epsilon$.

- **Sensitivity analysis** takes $\\xi = x - \\delta \\nabla f$ at an infinitesimal distance:
  $R_p = (\\partial f / \\partial x_p)^2$ is positive but **not conservative**; it measures a local effect.
- **Simple Taylor decomposition** searches the root along the gradient, $\\tilde x = x - t \\nabla f$,
  $t$ from a 1-D root search: the remainder $\\epsilon$ is not zero for a nonlinear $f$, the gradient
  at $\\tilde x$ can have either sign, and the line may miss the zero set.
- **Deep Taylor decomposition** (the reference) is conservative and positive."""

NOTEBOOKS = {
    "01_mnist_detection.ipynb": experiment_notebook("mnist_detection", DETECTION, [
        ("Heatmaps (red: positive relevance). $z^+$ follows the strokes; $w^2$ ignores the input (it "
         "shows the detectors' weights); $z^B$ also credits dark pixels seen by negative weights.", "heatmaps.png"),
        ("The consistency plot: one dot per test pair. $\\sum_p R_p$ lies on the diagonal $f(x)$, and the "
         "negative relevance is zero.", "consistency.png"),
        ("Pixel flipping: pixels set to 0, most relevant first; the faster $f$ drops, the more selective "
         "the heatmap (dashed: a random order).", "pixel_flipping.png")]),
    "02_mnist_deep.ipynb": experiment_notebook("mnist_deep", DEEP, [
        (None, "heatmaps.png"),
        ("Conservation: the training-free model lies on the diagonal; the min-max model scatters around it "
         "by its fitting error.", "consistency.png"),
        ("How well the min-max model reproduces the true relevance $R_k$ on test pairs:", "minmax_fit.png"),
        (None, "pixel_flipping.png")]),
    "03_sensitivity_taylor.ipynb": experiment_notebook("sensitivity_taylor", TAYLOR, [
        ("Heatmaps with the root point $\\tilde x$ found along the gradient (detection-pooling network):",
         "heatmaps_detector.png"),
        ("The same for the CNN:", "heatmaps_cnn.png"),
        ("Consistency per method (top: detection-pooling network, bottom: CNN):", "consistency.png"),
        (None, "pixel_flipping.png")]),
}


LRN = """# LRP through local renormalization layers: identity or first-order Taylor

Seed 003 (Binder et al. 2016). A local renormalization layer divides each activation by a power of the
energy of its neighbouring channels,
$y_k = x_k / (1 + b \\sum_{i \\in w(k)} x_i^2)^c$ (PyTorch/ONNX: $b = \\alpha / (n k)$, $c = \\beta$).
It is not linear, so LRP needs a rule for it. The **identity** passes the relevance through
($R_x = R_y$). The **first-order Taylor rule** expands $y_k$ at $x$ and evaluates it at
$(0, \\dots, x_k, \\dots, 0)$:

$$z_{kk} = \\frac{x_k}{(1 + b x_k^2)^c}, \\qquad
z_{jk} = \\frac{-2 b c\\, x_j^2 x_k}{(1 + b \\sum_i x_i^2)^{c+1}} \\; (j \\ne k), \\qquad
R_j = \\sum_k \\frac{z_{jk}}{\\sum_i z_{ik}} R_k ,$$

so a neighbour that suppresses $y_k$ receives negative relevance.

A CNN with two conv-ReLU-LRN-max-pool blocks was trained on MNIST in NumPy (`data/mnist_lrn_cnn.npz`).
Its LRN layers use $\\alpha = 5$ instead of AlexNet's $10^{-4}$, which would change activations of this
size by less than 0.1 %. Every pair (rule for basic layers, rule for normalization layers) is scored
by pixel flipping, most relevant first: a lower AUC is a better heatmap. The seed's numbers come
from ImageNet and MIT Places, on another scale, so only the directions of the differences compare.
The quick run below uses 30 test digits; the full run (`python -m dtd.experiments.mnist_lrn`) uses 1,000.
On those 1,000 digits the Taylor rule did *not* reproduce the seed's clear gain: with pixels set to 0 the
identity is as good or better for every basic rule, and the sign of the difference changes with the
flipping protocol (the last table)."""

COMPOSITION = """# LRP-0, LRP-$\\epsilon$, LRP-$\\gamma$ and the LRP composition

Seed 002. Every rule is computed in four steps through the layer's own forward and gradient:
$z_k = \\sum_{0,j} a_j \\rho(w_{jk})$, $s_k = R_k / z_k$, $c_j = [\\nabla (\\sum_k z_k s_k)]_j$, $R_j = a_j c_j$.

- **LRP-0** ($\\rho(w) = w$) explains the function exactly but is noisy on deep networks;
- **LRP-$\\epsilon$** adds $\\epsilon$ to the denominator: weak and contradictory contributions are absorbed;
- **LRP-$\\gamma$** ($\\rho(w) = w + \\gamma w^+$) favours positive contributions: fewer negative pixels;
- the **composition** uses each where it helps: $z^B$ at the pixels, $\\gamma$ on the lower layers, $\\epsilon$ in the
  middle, LRP-0 at the top.

The network is a 10-class MNIST CNN with six linear layers (`data/mnist_deep_cnn.npz`), so that each part
of the composition gets layers of its own."""

TITANIC = """# Deep Taylor decomposition of a Titanic survival model

Seed 001's programming example. Eleven encoded features per passenger (class, sex, age and whether it was
missing, log fare, family size, port), an MLP with biases $b \\le 0$ and two *sum* outputs: "died" adds up
eight ReLU units, "survived" eight others. Each output is explained by deep Taylor decomposition:
$R_j = x_j$ at the sum, $z^+$ on the hidden layer and $z^B$ on the input box $l \\le x \\le h$ (the training
passengers' minimum and maximum of each feature). $z^B$ also credits features at a bound: a male passenger's
`female = 0` is evidence for "died" through negative weights. The relevance of each passenger sums to the
output explained and is never negative."""

VOC = """# A small CNN for Pascal VOC 2012, explained per class

Seed 000, task 1. `dtd.datasets.load_voc` reads a VOCdevkit tree (JPEG images, XML annotations, split files)
into multi-label targets for the 20 classes; a four-convolution CNN is trained in NumPy on the sigmoid
cross-entropy (`dtd.train.sigmoid_cross_entropy`, difficult objects ignored), and each class present in an
image is explained by the LRP composition. The real data set is not on this machine, so the quick run
below writes a tiny synthetic VOCdevkit (coloured rectangles whose colour codes the class) and trains
30 steps only: the point is the pipeline. For a real copy:
`python -m dtd.experiments.voc --root /path/to/VOCdevkit/VOC2012`."""

NOTEBOOKS.update({
    "04_mnist_lrn.ipynb": experiment_notebook("mnist_lrn", LRN, [
        ("How much the LRN layers change their input (the diagonal is the identity):", "lrn_effect.png"),
        ("Heatmaps for each rule for basic layers, with the identity (id) and the Taylor rule (Tay) at the "
         "LRN layers:", "heatmaps.png"),
        ("Pixel flipping, most relevant first (with the random order as the baseline):", "pixel_flipping.png")]),
    "05_lrp_composition.ipynb": experiment_notebook("lrp_composition", COMPOSITION, [
        ("Heatmaps (red positive, blue negative relevance):", "heatmaps.png"),
        ("Conservation: LRP-$\\epsilon$ absorbs part of $f(x)$; LRP-$\\gamma$ and the composition have less "
         "negative relevance than LRP-0.", "consistency.png"),
        (None, "pixel_flipping.png")]),
    "06_titanic.ipynb": experiment_notebook("titanic", TITANIC, [
        ("Mean relevance per feature: survivors explained by their output 'survived', non-survivors by "
         "'died':", "mean_relevance.png"),
        ("Relevance per feature for some test passengers:", "passengers.png"),
        ("The decomposition is conservative and positive:", "consistency.png")]),
    "07_voc.ipynb": experiment_notebook("voc", VOC, [
        ("The training loss:", "training.png"),
        ("Heatmaps of the logit of each class present:", "heatmaps.png"),
        ("Average precision, and the share of positive relevance inside the explained class's boxes beside "
         "the share of the image they cover:", "per_class.png")]),
})


ONECLASS = """# Explaining the outliers of a one-class SVM: OC-DTD

Seed 004, *DTD for Kernel Models* (Kauffmann, Müller, Montavon, Pattern Recognition 101, 2020).
A one-class SVM with a Gaussian kernel, $f(x) = \\sum_j \\alpha_j e^{-\\gamma \\lVert x - u_j \\rVert^2}$
($\\sum_j \\alpha_j = 1$), has the outlier score $o(x) = -\\gamma^{-1} \\log f(x) \\ge 0$, which is exactly a
two-layer network (`dtd.kernels.from_sklearn` builds it from a fitted scikit-learn model):

$$h_j = \\lVert x - u_j \\rVert^2 - \\gamma^{-1} \\log \\alpha_j \\quad\\text{(distances)}, \\qquad
o = -\\gamma^{-1} \\log \\textstyle\\sum_j e^{-\\gamma h_j} \\quad\\text{(soft min-pooling)}.$$

**OC-DTD** explains $o(x)$ layer by layer, each step a Taylor expansion at a root point:

| layer | rule | root point | search direction |
|---|---|---|---|
| soft min-pooling | $R_j = \\dfrac{e^{-\\gamma h_j}}{\\sum_k e^{-\\gamma h_k}}\\, o(x)$ | $\\tilde h = h - o(x)\\,\\mathbf 1$ | $\\mathbf 1$ |
| distances | $R_i = \\sum_j \\dfrac{(x_i - u_{ij})^2}{\\lVert x - u_j \\rVert^2} R_j$ | $\\tilde x = u_j$ | $x - u_j$ |

It is conservative ($\\sum_i R_i = o(x)$) and positive. The baselines: sensitivity
$(\\partial o / \\partial x_i)^2$, the nearest support vector $(x_i - u_{\\text{nn},i})^2$, and edge detection
(the image's own gradient). The quick run fits the SVM on 300 zeros and explains test digits of the other
classes and zeros with an added stroke or noise block."""

NOTEBOOKS.update({
    "08_oneclass.ipynb": experiment_notebook("oneclass", ONECLASS, [
        ("The strongest outliers among the other digits (red: relevance; the soft minimum's support vectors "
         "are zeros, so ink where a zero has none, and missing ink where a zero has some, is relevant):",
         "heatmaps_other_digits.png"),
        ("Corrupted zeros: OC-DTD and sensitivity find the added stroke or block, the nearest support vector "
         "finds it most sharply; edge detection only sees edges:", "heatmaps_corrupted.png"),
        ("Pixel flipping: the most relevant pixels are replaced by the mean zero; the outlier score should fall "
         "fastest for the best explanation (dashed: random order):", "pixel_flipping.png")]),
})

PROPERTIES = """# Seed 004's table: explanation techniques against the four properties, measured

Seed 004 asks four things of an explanation: **conservation** ($\\sum_p R_p = f(x)$), **positivity**
($R_p \\ge 0$), **continuity** (almost the same input, almost the same explanation) and **selectivity**
(removing what is called relevant makes $f$ drop fast), and marks techniques yes / partly / no in a table
whose column pictures are lost. Here each technique gets a measured number per property on the shipped pair
CNN (biases $\\le 0$) and OC-DTD on a one-class SVM, and a mark from thresholds stated in
`dtd.experiments.properties`:

| property | measure | yes | partly |
|---|---|---|---|
| conservation | mean $\\lvert\\sum_p R_p - f\\rvert / \\lvert f\\rvert$ | $\\le 10^{-6}$ | $\\le 0.1$ |
| positivity | mean share of negative relevance | 0 in every sample | $\\le 0.1$ |
| continuity | largest $\\frac{\\lVert \\Delta R\\rVert_1/\\lVert R\\rVert_1}{\\lVert \\Delta x\\rVert_2/\\lVert x\\rVert_2}$ under noise $10^{-2}, 10^{-3}$ | $\\le 2$ | $\\le 10$ |
| selectivity | pixel-flipping AUC / random order's | $\\le 0.3$ | $\\le 0.6$ |

What the seed's text fixes: LRP-$\\alpha_1\\beta_0$ (= DTD) is yes / yes / yes / partly; gradient x input is
not conservative ("inflates scores" with negative biases) and not continuous. `marks.md` sets ours beside
the seed's and says why they differ. The quick run uses 3 inputs: its numbers are noisy."""

LRP_VS_DTD = """# LRP against deep Taylor decomposition (seed 000, task 3)

DTD redistributes $R_j$ by the first-order Taylor terms at a root point $\\tilde x = x - t v$ on
$\\sum_i \\tilde x_i w_{ij} + b_j = 0$, which gives $R_i = \\sum_j \\frac{v_{ij} w_{ij}}{\\sum_{i'} v_{i'j} w_{i'j}} R_j$,
**bias not in the denominator**. An LRP rule is a DTD rule where it has this form with the root in the domain:

| LRP rule | DTD rule | search direction $v$ | when equal |
|---|---|---|---|
| LRP-0 | $z^B$ on $[0, 0]$ ("at the origin") | $x$ | $b = 0$ (else LRP-0 expands at a non-root and inflates) |
| $\\alpha_1\\beta_0$ | $z^+$ | $x \\odot 1_{w > 0}$ | $b \\le 0$, $x \\ge 0$ |
| (none) | $z^B$ on $[l, h]$ | $x - l\\,1_{w>0} - h\\,1_{w<0}$ | $z^+$ is $z^B$ on $[0, x]$ |

The quick run shows each identity to float64 rounding on the shipped networks (biases set to 0 where the
identity needs it) and the difference where the shipped biases break it; the heatmaps put the two rules and
their difference side by side."""

NOTEBOOKS.update({
    "09_properties.ipynb": experiment_notebook("properties", PROPERTIES, [
        ("Heatmaps of the techniques on test pairs (red positive, blue negative):", "heatmaps_cnn.png"),
        ("Continuity: one input, the same input with noise 0.01, and the difference of the explanations; the "
         "gradient-based ones jump where ReLUs switch:", "continuity.png"),
        ("Pixel flipping (the first quarter of the pixels; dashed: random order):", "pixel_flipping.png")]),
    "10_lrp_vs_dtd.ipynb": experiment_notebook("lrp_vs_dtd", LRP_VS_DTD, [
        ("The detection network (Dense, $b \\le 0$): LRP-0 and DTD at the origin differ by the bias, "
         "$\\alpha_1\\beta_0$ and $z^+$ are equal, $z^B$ at the pixels gives relevance to black pixels:",
         "heatmaps_detector.png"),
        ("The pair CNN ($b \\le 0$):", "heatmaps_cnn.png"),
        ("The 10-class CNN (biases of both signs): $\\alpha_1\\beta_0$ and $z^+$ now differ too:",
         "heatmaps_deep.png")]),
})

# the derivations (issue 19): no experiment to run, its cells are in _derivations.py
NOTEBOOKS["00_derivations.ipynb"] = runpy.run_path(str(HERE / "_derivations.py"))["cells"]()


def main(names=None):
    for name, cells in NOTEBOOKS.items():
        if names and name not in names:
            continue
        nb = new_notebook(cells=cells, metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}})
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
