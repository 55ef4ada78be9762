"""Explanations beside LRP/DTD: sensitivity analysis and gradient x input."""
__all__ = ["sensitivity", "gradient_x_input"]


def sensitivity(net, x, target=None):
    r"""Sensitivity analysis :math:`R_i = (\partial f_c / \partial x_i)^2` (seed 001).

    Not conservative: it explains what makes f_c change, not what f_c is made of.

    Returns
    -------
    ndarray, shape of x
    """
    g, _ = net.gradient(x, target)
    return g * g


def gradient_x_input(net, x, target=None):
    r"""Gradient times input :math:`R_i = x_i\, \partial f_c / \partial x_i`.

    Equals LRP-0 on ReLU networks with zero biases.

    Returns
    -------
    ndarray, shape of x
    """
    g, _ = net.gradient(x, target)
    return x * g
