"""Opening the convolution explainer from the window: Help menu and a layer's context menu."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu

from cnnstudio.inspection.explainer import ExplainError, operation_for_layer
from cnnstudio.inspection.transposed_explainer import OPERATIONS as TRANSPOSED_OPERATIONS
from cnnstudio.network.spec import INPUT
from ui.explain.transposed_view import QtTransposeExplainView
from ui.explain.view import QtExplainView


def _explainable(layer_type: str) -> bool:
    try:
        operation_for_layer(layer_type)
    except ExplainError:
        return False
    return True


class ExplainerLauncher:
    """Owns the one Explain window and opens it blank or prefilled with a layer's settings."""

    def __init__(self, window):
        self.window = window
        self.view: QtExplainView | None = None

    def open_blank(self) -> QtExplainView:
        return self._show(QtExplainView())

    def open_transposed(self) -> QtTransposeExplainView:
        return self._show(QtTransposeExplainView())

    def open_for_layer(self, name: str) -> QtExplainView:
        """Prefill with layer ``name``'s settings; on the current data's first sample if it fits."""
        layer = self.window.document.spec.layer(name)
        view = QtExplainView.for_layer(layer.type, layer.params)
        spec = self.window.document.spec
        dataset = self.window.workspace.dataset
        if dataset is not None and spec.inputs_of(spec.index(name)) == [INPUT]:
            view.set_input(dataset.x_val[0])
        kernel = self._trained_kernel(name)
        if kernel is not None:
            view.set_kernel(kernel)
            view.setWindowTitle(f"Explain {name}: its trained kernel (filter 1, input channel 1)")
        return self._show(view)

    def _trained_kernel(self, name: str):
        """Filter 1, input channel 1 of layer ``name``'s kernel in the trained model, if it has one
        the view can show (square, as the view's size box is)."""
        model = self.window.workspace.model
        if model is None:
            return None
        from cnnstudio.inspection import probes

        if name not in probes.conv_layers(model):
            return None
        first = probes.kernels(model, name)[0][..., 0]
        return first if len(set(first.shape)) == 1 else None

    def add_node_actions(self, name: str, menu: QMenu) -> None:
        layer = self.window.document.spec.layer(name)
        if _explainable(layer.type):
            action = menu.addAction(f"Explain {layer.type} Step by Step…")
            action.triggered.connect(lambda: self.open_for_layer(name))
        elif layer.type.lower() in TRANSPOSED_OPERATIONS:
            action = menu.addAction(f"Explain {layer.type} Step by Step…")
            action.triggered.connect(lambda: self._show(QtTransposeExplainView.for_layer(layer.type, layer.params)))

    def _show(self, view):
        if self.view is not None:
            self.view.close()
        view.setParent(self.window, Qt.WindowType.Window)
        view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        view.destroyed.connect(lambda _=None, v=view: self._forget(v))
        view.resize(1000, 700)
        view.move(self.window.frameGeometry().center() - view.rect().center())  # over the window, not at the screen's edge
        view.show()
        self.view = view
        return view

    def _forget(self, view) -> None:
        if self.view is view:
            self.view = None


def install_explainer(window) -> ExplainerLauncher:
    """Add Help > Explain Convolution and Pooling…, Help > Explain Transposed Convolution… and
    "Explain … Step by Step" to conv, pool and transposed-convolution nodes."""
    launcher = ExplainerLauncher(window)
    action = window.menu_help.addAction("&Explain Convolution and Pooling…")
    action.setStatusTip("Step a kernel across a small input and see each output's dot product")
    action.triggered.connect(launcher.open_blank)
    help_actions = window.menu_help.actions()
    if len(help_actions) > 1:
        window.menu_help.insertAction(help_actions[0], action)
    transposed = window.menu_help.addAction("Explain &Transposed Convolution…")
    transposed.setStatusTip("Step through the input and see each value scatter a scaled copy of the kernel")
    transposed.triggered.connect(launcher.open_transposed)
    if len(help_actions) > 1:  # right after the convolution explainer, before the rest of Help
        window.menu_help.insertAction(help_actions[0], transposed)
    window.canvas.sig_node_menu.connect(launcher.add_node_actions)
    window.explainer = launcher
    return launcher
