"""What makes two conversions of one model write the same bytes (models/convert.py applies each).

Measured sources of run-to-run differences, each fixed here at its cause or by a canonical rewrite:

* Keras' SavedModel export lists the variables in the iteration order of TensorFlow's id-keyed set of the
  variables a traced function read (memory addresses): checkpoint keys and graph nodes changed order on
  every run. :func:`variables_in_name_order` sorts them by their unique names.
* ``fingerprint.pb`` holds a random uuid: :func:`stable_fingerprint` replaces it by the SavedModel's own
  content checksum.
* The Dropout layer's seed-generator state is a SavedModel variable drawn at load time:
  :data:`CONVERSION_SEED` seeds Python, NumPy, TensorFlow and Keras before the model is loaded.
* tf2onnx numbers the names it makes (``const_fold_opt__147``) in the order its passes visit nodes, which
  varies between runs although the graph does not: :func:`canonical_onnx_names` renumbers them in graph
  order. tf2onnx also writes its input path into the graph's doc_string (convert.py passes a relative one).

What stays machine-dependent (float rounding of kernels chosen by CPU features, in constant folding and in
calibration) is covered by the gate-outcome tolerance in docs/ARCHITECTURE.md, not by bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: Seed of everything random in a conversion, set before the Keras model is loaded.
CONVERSION_SEED = 0
#: tf2onnx's generated names: ``<stem>__<counter>``, as a node name or a tensor name with ``:<port>``.
_GENERATED = re.compile(r"^(?P<stem>.+?)__(?P<n>\d+)$")


class ReproducibilityError(RuntimeError):
    """A library changed so that a fix above no longer applies; the message says which."""


def seed_everything() -> None:
    import keras

    keras.utils.set_random_seed(CONVERSION_SEED)


@contextmanager
def variables_in_name_order() -> Iterator[None]:
    """Keras' SavedModel export, with its variables listed in name order instead of address order."""
    from keras.src.export import saved_model_export_archive as archive

    original = getattr(archive, "_list_variables_used_by_fns", None)
    if original is None:
        raise ReproducibilityError(
            "keras.src.export.saved_model_export_archive._list_variables_used_by_fns is gone: the "
            "SavedModel's variable order cannot be fixed with this Keras (requirements/dev.lock pins one "
            "that has it)"
        )

    def by_name(fns: Any) -> tuple[list[Any], list[Any]]:
        trainable, other = original(fns)
        return sorted(trainable, key=lambda v: v.name), sorted(other, key=lambda v: v.name)

    archive._list_variables_used_by_fns = by_name
    try:
        yield
    finally:
        archive._list_variables_used_by_fns = original


def stable_fingerprint(savedmodel: Path) -> None:
    """``fingerprint.pb``'s random uuid -> the SavedModel's content checksum (the file's other fields)."""
    from tensorflow.core.protobuf import fingerprint_pb2

    path = savedmodel / "fingerprint.pb"
    if not path.is_file():
        return
    fp = fingerprint_pb2.FingerprintDef.FromString(path.read_bytes())
    fp.uuid = str(fp.saved_model_checksum)
    path.write_bytes(fp.SerializeToString(deterministic=True))


def _renamer(keep: set[str]) -> Any:
    """A function mapping each generated name to ``<stem>__<k>``, k counting up in first-seen order;
    a tensor ``<node>:<port>`` keeps its port, so node and tensor names stay paired. Names in ``keep``
    (the model's inputs and outputs: its interface) are neither renamed nor reused."""
    mapping: dict[str, str] = {}
    taken = {n.partition(":")[0] for n in keep}

    def rename(name: str) -> str:
        base, colon, port = name.partition(":")
        m = _GENERATED.match(base)
        if not m or name in keep:
            return name
        if base not in mapping:
            k = len(mapping)
            while f"{m['stem']}__{k}" in taken:
                k += 1
            mapping[base] = f"{m['stem']}__{k}"
            taken.add(mapping[base])
        return mapping[base] + colon + port

    return rename


def _rename_graph(graph: Any, rename: Any) -> None:
    """Rename in graph order (inputs, then each node's inputs, name, outputs, subgraphs first-seen), then
    order initializers and value_info by first use, so their order no longer follows the counters."""
    import onnx

    for v in graph.input:
        v.name = rename(v.name)
    first_use: dict[str, int] = {}
    for i, node in enumerate(graph.node):
        node.input[:] = [rename(x) for x in node.input]
        node.name = rename(node.name)
        node.output[:] = [rename(x) for x in node.output]
        for x in [*node.input, *node.output]:
            first_use.setdefault(x, i)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _rename_graph(attr.g, rename)
            for sub in attr.graphs:
                _rename_graph(sub, rename)
    for v in [*graph.output, *graph.value_info, *graph.initializer]:
        v.name = rename(v.name)
    last = len(graph.node)
    for field in (graph.initializer, graph.value_info):
        ordered = sorted(field, key=lambda t: (first_use.get(t.name, last), t.name))
        copies = [type(t).FromString(t.SerializeToString()) for t in ordered]
        del field[:]
        field.extend(copies)


def canonical_onnx_names(path: Path) -> None:
    """Rewrite an ONNX model with tf2onnx's generated names renumbered in graph order (same graph, same
    values: only the counters and the initializer order change)."""
    import onnx

    model = onnx.load(str(path))
    interface = {v.name for v in [*model.graph.input, *model.graph.output]}
    _rename_graph(model.graph, _renamer(interface))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
