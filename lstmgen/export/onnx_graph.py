"""A loaded run as one ONNX model, built on ONNX's own ``LSTM``, ``GRU`` and ``RNN`` operators.

Shapes: T time steps, N batch (streams), E embed_dim, H hidden_size, V vocabulary size, L layers.

    ids (T, N) int64 --Gather(embed.W)--> (T, N, E)
        --LSTM/GRU/RNN layer 0, state in layers.0.h (N, H) [and layers.0.c]--> (T, N, H)
        ... layer L-1 ...
        --MatMul(head.W) + head.b  (tied: [MatMul(head.proj)] MatMul(embed.Wᵀ) + head.b)-->
        --LogSoftmax--> logprobs (T, N, V)
    outputs: logprobs, then layers.K.h_next [and layers.K.c_next] for every layer, in the
    order of the state inputs, so a caller can feed them back as the next call's state.

The recurrent operators read the whole sequence in one node per layer (nothing is unrolled).
Dropout is absent (evaluation has none). The graph reads one document: it does not zero the
state at <eod>; the caller does (``lstmgen.export`` puts that rule in the model's metadata).

Weight layout. lstmgen fuses W (D+H, kH) with rows W[:D] for x_t and W[D:] for h_{t-1}; ONNX
wants W (1, kH, D) and R (1, kH, H), the gates in its own order, and B (1, 2kH) = [Wb | Rb]:

    lstm, peephole_lstm   lstmgen i, f, g, o  ->  ONNX i, o, f, c (c = lstmgen's g)
                          peepholes p = [p_i | p_f | p_o]  ->  P = [p_i | p_o | p_f]
    gru_cudnn             lstmgen r, z, n  ->  ONNX z, r, h;  linear_before_reset = 1, Rb_h = b_hn
    gru (Cho)             lstmgen r, u, n with h_t = (1-u) h_{t-1} + u n, while ONNX's
                          h_t = (1-z) h + z h_{t-1}: z = 1 - u = σ(-a_u), so the u block is
                          negated and becomes z;  linear_before_reset = 0, Rb = 0
    rnn                   one block, activation Tanh
"""

from typing import Dict, List

import numpy as np

OPSET = 17  # onnx 1.12+ writes it, onnxruntime 1.12+ (2022) runs it; LSTM/GRU/RNN are unchanged since opset 14
IR_VERSION = 8  # the IR version of opset 17: older runtimes refuse a newer one

# lstmgen's gate letters (``Cell.gates``) in the order ONNX's operator wants them; tests swap
# an entry to check that a wrong layout is caught.
ONNX_ORDER = {"lstm": "iofg", "peephole_lstm": "iofg", "gru_cudnn": "zrn", "gru": "zrn", "rnn": "h"}
OPERATOR = {"lstm": "LSTM", "peephole_lstm": "LSTM", "gru_cudnn": "GRU", "gru": "GRU", "rnn": "RNN"}


def reorder(blocks: np.ndarray, have: str, want: str, axis: int = 0) -> np.ndarray:
    """``blocks`` cut along ``axis`` into len(have) equal blocks named by the letters of
    ``have``, put in the order of ``want``."""
    parts = dict(zip(have, np.split(blocks, len(have), axis=axis)))
    return np.concatenate([parts[g] for g in want], axis=axis)


def operator_weights(cell, layer: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """One layer's lstmgen arrays (W, b, [p], [b_hn]) -> the operator's W, R, B [, P], float32."""
    D, H = cell.input_size, cell.hidden_size
    W, b = np.array(layer["W"], np.float32), np.array(layer["b"], np.float32)  # (D+H, kH), (kH,) copies
    have = cell.gates
    if cell.name == "gru":  # ONNX's z keeps the old state: z = σ(-a_u)
        gate, sign = cell.forget_gate
        k = have.index(gate)
        W[:, k * H:(k + 1) * H] *= sign
        b[k * H:(k + 1) * H] *= sign
        have = have.replace(gate, "z")
    want = ONNX_ORDER[cell.name]
    recurrent_bias = np.zeros_like(b)  # (kH,) Rb: lstmgen has one bias, except gru_cudnn's b_hn
    if "b_hn" in layer:
        recurrent_bias[have.index("n") * H:(have.index("n") + 1) * H] = layer["b_hn"]
    out = {
        "W": reorder(W[:D].T, have, want)[None],  # (1, kH, D)
        "R": reorder(W[D:].T, have, want)[None],  # (1, kH, H)
        "B": np.concatenate([reorder(b, have, want), reorder(recurrent_bias, have, want)])[None],  # (1, 2kH)
    }
    if "p" in layer:
        out["P"] = reorder(np.asarray(layer["p"], np.float32), "ifo", "iof")[None]  # (1, 3H)
    return out


def state_names(model) -> List[str]:
    """The graph's state inputs, lstmgen's state keys: layers.K.h [, layers.K.c] per layer."""
    return [f"layers.{l}.{name}" for l, cell in enumerate(model.cells) for name in cell.state_names]


def _head_nodes(helper, model, params: Dict[str, np.ndarray], x: str, const) -> list:
    """The head's nodes from the last layer's output ``x`` (T, N, H): logits = x head.W + head.b
    (tied: x [head.proj] embed.W^T + head.b), then log-probabilities (T, N, V)."""
    nodes = []
    if not model.tie_weights:
        nodes.append(helper.make_node("MatMul", [x, const("head.W", params["head.W"].astype(np.float32))], ["z"]))
    else:  # the embedding is stored once; the head reads it transposed
        if "head.proj" in params:
            nodes.append(helper.make_node("MatMul", [x, const("head.proj", params["head.proj"].astype(np.float32))],
                                          ["projected"]))  # (T, N, E)
            x = "projected"
        nodes.append(helper.make_node("Transpose", ["embed.W"], ["embed.W_T"], perm=[1, 0]))  # (E, V)
        nodes.append(helper.make_node("MatMul", [x, "embed.W_T"], ["z"]))
    nodes.append(helper.make_node("Add", ["z", const("head.b", params["head.b"].astype(np.float32))], ["logits"]))
    nodes.append(helper.make_node("LogSoftmax", ["logits"], ["logprobs"], axis=-1))  # (T, N, V)
    return nodes


def build_model(model, params: Dict[str, np.ndarray], metadata: Dict[str, str]):
    """The ONNX ``ModelProto`` of ``model`` (a ``LanguageModel``) with weights ``params``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H, V = model.hidden_size, model.vocab_size
    inits, nodes = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    const("axis0", np.array([0], np.int64))
    const("axis1", np.array([1], np.int64))
    nodes.append(helper.make_node("Gather", [const("embed.W", params["embed.W"].astype(np.float32)), "ids"],
                                  ["embedded"], axis=0))  # (T, N, E)
    x = "embedded"
    for l, cell in enumerate(model.cells):
        w = operator_weights(cell, {k.split(".", 2)[2]: v for k, v in params.items() if k.startswith(f"layers.{l}.")})
        p = f"layers.{l}"
        inputs = [x, const(f"{p}.W", w["W"]), const(f"{p}.R", w["R"]), const(f"{p}.B", w["B"]), ""]
        for name in cell.state_names:  # (N, H) -> (1, N, H): one direction
            nodes.append(helper.make_node("Unsqueeze", [f"{p}.{name}", "axis0"], [f"{p}.{name}0"]))
            inputs.append(f"{p}.{name}0")
        if "P" in w:
            inputs.append(const(f"{p}.P", w["P"]))
        outputs = [f"{p}.Y"] + [f"{p}.{name}_last" for name in cell.state_names]  # Y (T, 1, N, H)
        attrs = {"hidden_size": H}
        if OPERATOR[cell.name] == "GRU":
            attrs["linear_before_reset"] = int(cell.name == "gru_cudnn")
        nodes.append(helper.make_node(OPERATOR[cell.name], inputs, outputs, name=p, **attrs))
        nodes.append(helper.make_node("Squeeze", [f"{p}.Y", "axis1"], [f"{p}.out"]))  # (T, N, H)
        for name in cell.state_names:
            nodes.append(helper.make_node("Squeeze", [f"{p}.{name}_last", "axis0"], [f"{p}.{name}_next"]))
        x = f"{p}.out"
    nodes += _head_nodes(helper, model, params, x, const)

    states = state_names(model)
    graph = helper.make_graph(
        nodes, "lstmgen",
        inputs=[helper.make_tensor_value_info("ids", TensorProto.INT64, ["T", "N"])]
        + [helper.make_tensor_value_info(s, TensorProto.FLOAT, ["N", H]) for s in states],
        outputs=[helper.make_tensor_value_info("logprobs", TensorProto.FLOAT, ["T", "N", V])]
        + [helper.make_tensor_value_info(f"{s}_next", TensorProto.FLOAT, ["N", H]) for s in states],
        initializer=inits,
        doc_string="ids (T, N) and the state of every layer (N, H) -> log-probabilities (T, N, V) of the next "
                   "token and the state after the last step. The graph reads one document: zero the state "
                   "before a stream reads <eod> (see metadata 'eod').",
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                   producer_name="lstmgen", producer_version=metadata.get("lstmgen_version", ""))
    onnx_model.ir_version = IR_VERSION
    helper.set_model_props(onnx_model, metadata)
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model
