"""The checker's entry: parse, read (conventions, readings, derivations), resolve, check in a bounded child.

``check(claim, net, …)`` parses the claim (or each line of a derivation, :mod:`.derivation`),
reads it in its convention (:mod:`.conventions`), lists the readings of symbols the notation
leaves open (:mod:`.readings`), resolves every reading against the network (:mod:`.names`,
:mod:`.matrices`) and checks each in a child process under a work budget (:mod:`.session`:
refute by certified evaluation first, then prove through :mod:`symderiv.decide`).
"""
from __future__ import annotations

import zlib
from dataclasses import replace

from ..errors import ClaimNameError, ClaimSyntaxError, InvalidArgument, SizeLimitError, SymderivError, UnsupportedError
from ..guard import public_entry
from .conventions import CONVENTIONS, DEFAULT, IN_OUT, apply_convention, choose, writes_batch_code, writes_rows
from .derivation import is_derivation, looks_latex, split_derivation, substitute, writes_code
from .readings import example_subscripts, layer_subscripts, lowercase_batch, readings
from .names import resolve
from .numpy_indexing import in_place_lines
from .session import _check_here, _pairs, _relation, bound_reason, safety_net_seconds
from .tree import MAX_CHARS, Add, Call, Claim, Const, Deriv, Mul, Num, Op, Pow, Q, Sum, to_latex, to_text
from .verdict import PROVED, REFUTED, UNDECIDED, Counterexample, LinkVerdict, Verdict

__all__ = ["check", "parse_claim"]

#: the classes a parsed claim / a verdict may contain when it comes back from a bounded child
_TREE_TYPES = (Claim, Num, Const, Q, Call, Add, Mul, Pow, Sum, Op, Deriv)
_VERDICT_TYPES = (Verdict, LinkVerdict, Counterexample)
#: memory budget (MB, on top of the process's size) of a parse
_PARSE_MEMORY_MB = 1024
#: the starts of the shape errors of :mod:`.matrices` (a claim with one may be written in another layout)
_SHAPE_ERRORS = ("cannot multiply", "⊙ of", "+ of", "* of", "sigmoid of", "tanh of", "relu of", "f of", "exp of",
                 "log of", "side ")
#: the least work (reference seconds) deriving and evaluating a claim gets, whatever ``seconds=`` says
_MIN_EVALUATION_S = 10.0
#: what the note of a claim read with row vectors because it writes them says
_ROWS_DETECTED = "detected: the claim writes rows"
#: what the note of a claim read with W of shape n_(l-1) × n_l because only so its sides' shapes agree says
_IN_OUT_DETECTED = "detected: the two sides' shapes agree only with W^(l) of shape n_(l-1) × n_l"
#: the longest text without LaTeX signs that is also tried as LaTeX when it is not plain text
_FORMULA_CHARS = 200
#: parsed claims by (text, syntax): frozen claim trees, so sharing them is safe
_PARSED: dict = {}
_PARSED_MAX = 256


@public_entry
def parse_claim(claim: str, syntax: str = "auto", *, seconds: float = 5.0) -> Claim:
    """Parse ``claim`` (``syntax``: ``"latex"``, ``"plain"`` or ``"auto"``) into a claim tree.

    The parse runs in a bounded child process (``seconds``, and 1 GB of memory on
    top of the process's size); its result comes back as plain claim-tree data.  Bad,
    oversized or hostile text raises a one-line :class:`~symderiv.errors.SymderivError`.
    """
    if not isinstance(claim, str):
        raise ClaimSyntaxError(f"a claim must be a string, got {type(claim).__name__}")
    if syntax not in ("auto", "latex", "plain"):
        raise ClaimSyntaxError(f"syntax must be 'auto', 'latex' or 'plain', got {syntax!r}")
    if not isinstance(seconds, (int, float)) or not 0 < seconds <= 3600:
        raise InvalidArgument(f"seconds must be a positive number of seconds (at most 3600), got {seconds!r}")
    claim = str.__str__(claim)  # an exact str: a str subclass's own methods never run on the text
    if len(claim) > MAX_CHARS:  # before anything else looks at the text
        raise SizeLimitError(f"the claim is {len(claim)} characters long (limit {MAX_CHARS})")
    if syntax == "auto":
        syntax = "latex" if looks_latex(claim) else "auto-plain"
    if syntax in ("latex", "auto-plain"):
        from . import latex  # noqa: F401  imported once here, inherited by every forked parse child
    from ..bounded import BoundExceeded, IsolationUnavailable, TimeBoundExceeded, WorkExceeded, run_bounded
    from ..decide import work_of_seconds

    key = (claim, syntax)
    if key in _PARSED:  # a parsed claim is immutable plain data: parse each text once per process
        return _PARSED[key]
    # the bound that decides is counted work (the same refusal on an idle and a loaded machine, and on the
    # spawn path, whose child first imports symderiv); the wall clock is only the safety net
    net = safety_net_seconds(float(seconds))
    try:
        parsed = run_bounded(_parse_here, claim, syntax, seconds=net, work=work_of_seconds(float(seconds)),
                             memory_mb=_PARSE_MEMORY_MB, reraise=True, allowed=_TREE_TYPES)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = parsed
        return parsed
    except IsolationUnavailable:
        raise
    except WorkExceeded:
        raise SizeLimitError(f"parsing the claim exceeded its work bound ({seconds:g} reference seconds of counted "
                             "steps); simplify or shorten it") from None
    except TimeBoundExceeded:
        raise SizeLimitError(f"parsing the claim hit the wall-clock safety net of {net:g} s (machine load, not the "
                             "claim); try again on a less busy machine") from None
    except BoundExceeded as exc:
        raise SizeLimitError(f"parsing the claim exceeded its bound ({exc}); simplify or shorten it") from None


def _parse_here(claim: str, syntax: str) -> Claim:
    """The parse itself (in the bounded child)."""
    try:
        if syntax == "latex":
            from .latex import parse_latex_claim

            return parse_latex_claim(claim)
        from .plaintext import NotPython, parse_plain

        if syntax == "plain":
            try:
                return parse_plain(claim)
            except NotPython as exc:  # the public class crosses the process boundary
                raise ClaimSyntaxError(str(exc)) from None

        try:  # "auto" and no sign of LaTeX: plain text, unless it is no Python (juxtaposition, a quantity before
            return parse_plain(claim)  # a bracket: dw = (1/m) X (A - Y)^T), and then a formula in LaTeX
        except NotPython as plain_error:
            from .latex import parse_latex_claim

            if len(claim) > _FORMULA_CHARS or writes_code(claim):
                raise ClaimSyntaxError(str(plain_error)) from None

            try:
                return parse_latex_claim(claim)
            except SymderivError:
                raise ClaimSyntaxError(str(plain_error)) from None
    except RecursionError:
        raise SizeLimitError("the claim is nested too deeply to parse; split it or remove redundant brackets") from None


@public_entry
def check(claim: str, net, init=None, *, syntax: str = "auto", seconds: float = 10.0, seed: int | None = None,
          memory_mb: int = 2048, convention: str = "auto") -> Verdict:
    """Check a claim about ``net`` at ``init`` and return a :class:`~.verdict.Verdict`.

    * ``claim``: LaTeX (``\\frac{\\partial L}{\\partial W^{(1)}_{ij}} = (p_i - y_i) x_j``)
      or plain text (``dL/dW1[i,j] = (p[i] - y[i]) * x[j]``); indices are 1-based;
      ``t`` (or ``y`` as an index) is the true class of a one-hot label; side conditions
      such as ``\\quad j \\neq t`` or ``for every j except t`` restrict the indices.
    * ``net``: a :class:`~symderiv.network.Network` with concrete widths, or a standalone layer
      (:mod:`.layers`: ``batchnorm(batch=3, features=2)``, ``layernorm``, ``softmax``, ``attention``)
      whose backward pass the claim is about, the upstream gradient free.
    * ``init``: None (generic: every parameter its own symbol, "in general") or an
      init spec (``zeros()``, ``constant(c)``, …): the claim is checked at that init.
    * ``syntax``: ``"auto"`` (LaTeX if the text has ``\\ { } _ $``), ``"latex"`` or ``"plain"``.
    * ``seconds``: the **work** budget of the check, in reference seconds (a fixed number of counted
      steps per second, :func:`symderiv.decide.work_of_seconds`: the same verdict on an idle or a
      loaded machine): that much for deriving and evaluating, and as much for the proofs; beyond it
      the verdict is "undecided" and says how to raise it (deriving and evaluating get at least 10).  The wall clock is only a safety net
      (:func:`safety_net_seconds`), and a verdict it decided says so.
    * ``memory_mb``: memory the checking child process may use on top of this process's size;
      beyond it the verdict is "undecided".
    * ``convention``: ``"auto"`` (detected from the notation, else symderiv's declared readings) or a
      preset of :data:`~.conventions.CONVENTIONS` (``"cs231n"``, ``"nielsen"``, ``"goodfellow"``,
      ``"ng"``): what ``a`` names, the shape of ``W``, rows or columns per example; stated in the notes.

    ``claim`` may be a whole derivation: an ``align`` environment or several lines (one claim per
    line, ``Let u = …`` definitions used in later lines); each line is checked and the first wrong
    link is named with its line (:mod:`.derivation`).

    Everything that depends on the claim runs in bounded child processes; the verdict
    comes back as plain data.  Malformed, unsupported or hostile input raises a one-line
    :class:`~symderiv.errors.SymderivError`; nothing in the text is executed.
    """
    from ..network import Network
    from .layers import Layer, check_layer

    if not isinstance(net, (Network, Layer)):
        raise InvalidArgument(f"net must be a Network (symderiv.mlp(...)) or a layer (symderiv.claims.layers.batchnorm(...), "
                              f"layernorm, softmax, attention), got {type(net).__name__}")
    if isinstance(net, Network) and net.is_symbolic:
        raise UnsupportedError(
            f"checking a claim needs concrete widths, but the network has sizes {list(net.sizes)}; use e.g. mlp([4, 3, 3])"
        )
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 3600:
        raise InvalidArgument(f"seconds must be a positive number of seconds (at most 3600), got {seconds!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InvalidArgument(f"seed must be an integer or None, got {seed!r}")
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or not 64 <= memory_mb <= 1 << 20:
        raise InvalidArgument(f"memory_mb must be an integer number of megabytes (64 .. 1048576), got {memory_mb!r}")
    if not isinstance(convention, str) or convention != "auto" and convention not in CONVENTIONS:
        raise InvalidArgument(f"convention must be 'auto' or one of {', '.join(sorted(CONVENTIONS))}, got {convention!r}")
    seconds = float(seconds)
    if isinstance(net, Layer):  # a standalone layer's backward pass, the upstream gradient free (:mod:`.layers`)
        if init is not None or convention != "auto":
            raise InvalidArgument("a layer claim takes no init= and no convention= (its inputs are generic symbols)")
        return check_layer(claim, net, syntax=syntax, seconds=seconds, seed=seed, memory_mb=memory_mb)
    claim = str.__str__(claim) if isinstance(claim, str) else claim
    try:
        if isinstance(claim, str) and is_derivation(claim):
            return _check_derivation(claim, net, init, syntax, seconds, seed, memory_mb, convention)
        parsed = parse_claim(claim, syntax, seconds=min(5.0, seconds))
    except (ClaimNameError, UnsupportedError) as exc:  # a layer's names (x_hat, dgamma, dV): :mod:`.layers`
        from .layers import LAYER_HINT, detect_layer

        if not isinstance(claim, str) or LAYER_HINT not in str(exc) or init is not None or convention != "auto":
            raise
        return detect_layer(claim, exc, syntax=syntax, seconds=seconds, seed=seed, memory_mb=memory_mb)
    claim = str.__str__(claim)  # parse_claim accepted it: a str (exactly, from here on)
    return _check_parsed(claim, parsed, net, init, seed, memory_mb, seconds, convention)


def _check_parsed(claim: str, parsed: Claim, net, init, seed, memory_mb: int, seconds: float,
                  convention: str = "auto", why: str = "") -> Verdict:
    """Read a parsed claim in its convention, resolve every reading of it against ``net`` and check
    the readings that are well formed (:mod:`.readings`), each under the work budget of ``seconds``.
    ``why``: why a named ``convention`` holds, when the caller detected it (a derivation's other line)."""
    conv, chosen = choose(convention, parsed)
    why = why or chosen
    parsed = apply_convention(parsed, conv)
    said = [conv.describe() + (f" ({why})" if why else "")] if conv != DEFAULT or convention != "auto" else []
    parsed, examples = example_subscripts(parsed)
    if examples:
        said.append("inside a sum over the examples, x_i (y_i, p_i, …) is example i's vector (CS231n's notation)")
    parsed, subscripted = layer_subscripts(parsed, net.depth)
    if subscripted:
        said.append("a single number under W (or under b in a network of several layers) is read as its layer: "
                    "W_1 = W^{(1)}, b_2 = b^{(2)}")
    # CS224n writes layers as subscripts (z_1 = x W_1 + b_1): in its convention z_1 is a layer; in a claim that
    # writes W_1 so, z_1 may be either (an entry in symderiv's own notation)
    options = readings(parsed, net.depth, numbered_layers="layer" if conv.name == "cs224n" else "both" if subscripted else "")
    if len(options) == 1:
        if options[0][0]:  # one reading, named: the claim as read so
            said.append(f"read as {options[0][0]}")
        base_said = list(said)  # a fallback below (batch, rows, orientation) adds a note: the claim pinned its reading
        parsed = options[0][1]
        try:
            resolved = resolve(parsed, net, conv)
        except ClaimSyntaxError as exc:
            if not str(exc).startswith(_SHAPE_ERRORS):
                raise
            batch = _as_batch(parsed, net, conv, convention == "auto" and conv == DEFAULT)
            columns = _column_vectors(parsed, net, conv) if batch is None else None
            if batch is not None:
                parsed, resolved, note = batch
            elif columns is not None:
                parsed, resolved, note = columns
            elif convention != "auto" or conv != DEFAULT:
                raise
            else:
                parsed, resolved, note = _in_rows(parsed, net, exc)
            said = [note, *said]
        if resolved.variants and all(v.mismatch for v in resolved.variants):
            batch = _as_batch(parsed, net, conv, convention == "auto" and conv == DEFAULT)
            if batch is not None:  # dh1 = dscores.dot(W2.T): code's lowercase array, not one example's vector
                parsed, resolved, note = batch
                said = [note, *said]
        if convention == "auto" and conv == DEFAULT and resolved.variants and all(v.mismatch for v in resolved.variants):
            parsed, resolved, note = _other_orientation(parsed, net, resolved)
            said = [note, *said] if note else said
        both = _both_layouts(parsed, resolved, net) if convention == "auto" and conv == DEFAULT and \
            said == base_said else None
        if both is not None:  # NumPy code that fits symderiv's W and CS231n's (square layers): check both, never guess
            verdicts = [(what, _check_reading(claim, c, r, net, init, seed, memory_mb, seconds)) for what, c, r in both]
            verdict = _combine_readings(verdicts, [], _PICK_LAYOUT)
        else:
            verdict = _check_reading(claim, parsed, resolved, net, init, seed, memory_mb, seconds)
        verdict.notes[:0] = said
        return verdict
    fit, failed = [], []
    for what, c in options:
        try:
            try:
                r = resolve(c, net, conv)
            except ClaimSyntaxError as exc:  # the shapes may fit with row vectors (CS224n's x W_1), as for one reading
                if convention != "auto" or conv != DEFAULT or not str(exc).startswith(_SHAPE_ERRORS):
                    raise
                c, r, note = _in_rows(c, net, exc)
                what, said = f"{what} with row vectors", [note, *said] if note not in said else said
        except SymderivError as exc:
            failed.append((what, str(exc)))
            continue
        if all(v.mismatch for v in r.variants):  # the shapes of the sides differ: not what the writer meant
            failed.append((what, r.variants[0].mismatch))
        else:
            fit.append((what, c, r))
    if not fit:
        raise ClaimNameError("the claim has no reading that fits: " + "; ".join(f"{w}: {e[:120]}" for w, e in failed)
                             + "; write the layer (a^{(1)}, a^{L}) or the orientation (W, W^T)")
    verdicts = []
    for what, c, r in fit:
        verdicts.append((what, _check_reading(claim, c, r, net, init, seed, memory_mb, seconds)))
    verdict = _combine_readings(verdicts, [w for w, _ in failed])
    verdict.notes[:0] = said
    return verdict


def _in_rows(parsed: Claim, net, exc: ClaimSyntaxError):
    """A claim whose shapes do not fit symderiv's column vectors, read with row vectors and ``W`` of shape
    ``n_(l-1) × n_l`` (CS231n/CS224n code) when the claim itself writes rows (``x W``, ``δ W^T``, ``X @ W``)
    and every shape fits there: ``(claim, resolved, note)``; otherwise ``exc``, with a hint when the rows
    reading would fit but the claim gives no sign of it (the user can choose it)."""
    rows = CONVENTIONS["cs231n"]
    try:
        candidate = apply_convention(parsed, rows)
        resolved = resolve(candidate, net, rows)
    except SymderivError:
        raise exc from None
    if any(v.mismatch for v in resolved.variants):
        raise exc from None
    if not writes_rows(parsed):
        raise ClaimSyntaxError(f"{exc}; with row vectors and W of shape n_(l-1) × n_l the shapes fit: if that is your "
                               "notation, say convention='cs224n' (command line: --convention cs224n)") from None
    note = rows.describe() + f" ({_ROWS_DETECTED}, and the shapes agree only so; in symderiv's own: {exc})"
    return candidate, resolved, note


def _column_vectors(parsed: Claim, net, conv):
    r"""A claim in a row-vector convention (CS231n) whose shapes fit only with column vectors (its notes'
    ``\sum_i x_i (p_i - y_i)^T``, while ``W`` stays ``n_(l-1) × n_l``): ``(claim, resolved, note)``, else None.
    A vector's orientation is notation; the weights' shape is the convention's."""
    if conv.vectors != "rows":
        return None
    columns = replace(conv, name=f"{conv.name} with column vectors", vectors="columns")
    try:
        resolved = resolve(parsed, net, columns)
    except SymderivError:
        return None
    if any(v.mismatch for v in resolved.variants):
        return None
    return parsed, resolved, (f"{conv.name}'s vectors are rows, but this claim's shapes fit only with column vectors "
                              f"(x_i (p_i - y_i)^T): read so, W keeping {conv.name}'s shape")


def _as_batch(parsed: Claim, net, conv, rows_too: bool):
    """Code's lowercase arrays (``dW2 = h1.T.dot(dscores)``) as batch matrices (:func:`.readings.lowercase_batch`),
    when the shapes fit so (in ``conv``, or with ``rows_too`` in the row convention the code may be in):
    ``(claim, resolved, note)``, else None."""
    lifted, names = lowercase_batch(parsed)
    if not names:
        return None
    said = (f"{', '.join(names)} read as the batch's matrix (NumPy code names its arrays in lowercase, and the claim "
            "writes batch matrices; as one example's vector the shapes do not fit)")
    for candidate_conv in (conv, CONVENTIONS["cs231n"]) if rows_too else (conv,):
        try:
            candidate = apply_convention(lifted, candidate_conv) if candidate_conv != conv else lifted
            resolved = resolve(candidate, net, candidate_conv)
        except SymderivError:
            continue
        if any(v.mismatch for v in resolved.variants):
            continue
        return candidate, resolved, said if candidate_conv == conv else f"{said}; {candidate_conv.describe()}"
    return None


def _other_orientation(parsed: Claim, net, resolved):
    """A claim whose two sides have different shapes in symderiv's orientation (``∂L/∂W = X^T (P - Y)/N``
    with ``W`` of shape ``n_l × n_{l-1}``) was not written in it: the writer's ``W`` is ``n_{l-1} × n_l``
    (CS231n's ``dW = X.T @ dscores``, Ng's column ``w``).  When the shapes agree in that orientation and
    only in it, the claim is read so and the verdict says why; otherwise nothing changes (the shape
    mismatch is then the refutation).  Returns ``(claim, resolved, note)``; the note is empty when unchanged."""
    try:
        candidate = apply_convention(parsed, IN_OUT)
        other = resolve(candidate, net, IN_OUT)
    except SymderivError:
        return parsed, resolved, ""
    if not other.variants or any(v.mismatch for v in other.variants):
        return parsed, resolved, ""
    mismatch = resolved.variants[0].mismatch.split(":")[0]
    note = (IN_OUT.describe() + f" ({_IN_OUT_DETECTED}, "
            f"so the claim is read in that orientation; in symderiv's own, where W^(l) is n_l × n_(l-1), {mismatch}; "
            "to insist on symderiv's orientation say convention='symderiv', command line --convention symderiv)")
    return candidate, other, note


def _both_layouts(parsed: Claim, resolved, net):
    """NumPy code with a product of batch matrices (:func:`.conventions.writes_batch_code`) whose shapes fit
    both symderiv's ``W`` (n_l × n_(l-1)) and CS231n's (n_(l-1) × n_l, one example per row): both readings,
    ``[(description, claim, resolved)]``, else None (the shapes pick one, or the claim is no such code)."""
    if not resolved.variants or any(v.mismatch for v in resolved.variants) or not writes_batch_code(parsed):
        return None
    rows = CONVENTIONS["cs231n"]
    try:
        candidate = apply_convention(parsed, rows)
        other = resolve(candidate, net, rows)
    except SymderivError:
        return None
    if not other.variants or any(v.mismatch for v in other.variants):
        return None
    return [("symderiv's layout (W^(l) is n_l × n_(l-1))", parsed, resolved),
            ("CS231n's layout (W^(l) is n_(l-1) × n_l, one example per row)", candidate, other)]


#: how to pick one of several readings
_PICK_READING = "write the layer (a^{(1)}, a^{L}) or the orientation (W or W^T) to pick one"
_PICK_LAYOUT = ("say convention='cs231n' or convention='symderiv' (command line: --convention) to pick one; "
                "the layers' shapes fit both")


def _combine_readings(verdicts: list, unfit: list, pick: str = _PICK_READING) -> Verdict:
    """One verdict from the verdicts of several readings: a status they all share, else "undecided"
    naming which readings hold (a claim is never refuted under a reading the writer may not mean)."""
    first = verdicts[0][1]
    names = ", ".join(w for w, _ in verdicts)
    dropped = f" ({'; '.join(unfit)}: shapes or index ranges do not fit)" if unfit else ""
    statuses = {v.status for _, v in verdicts}
    if len(verdicts) == 1:
        first.notes.insert(0, f"read as {names}, the only reading that fits{dropped}")
        return first
    if len(statuses) == 1:
        first.notes.insert(0, f"the claim has several readings ({names}); it is {first.status} under each{dropped}")
        return first
    per = "; ".join(f"{v.status} under {w}" for w, v in verdicts)
    links = []
    for k, link in enumerate(first.links):
        mine = [v.links[k].status if k < len(v.links) else UNDECIDED for _, v in verdicts]
        if len(set(mine)) == 1:
            links.append(link)
            continue
        links.append(replace(link, status=UNDECIDED, counterexample=None,
                             reason=f"the claim depends on how it is read: {per}; {pick}"))
    status = REFUTED if any(l.status == REFUTED for l in links) else \
        PROVED if all(l.status == PROVED for l in links) else UNDECIDED
    notes = [f"the claim has several readings: {per}{dropped}"] + first.notes
    return Verdict(first.claim, status, links, first.network, first.init, notes, first.syntax)


def _check_reading(claim: str, parsed: Claim, resolved, net, init, seed, memory_mb: int, seconds: float) -> Verdict:
    """Check one resolved reading in a bounded child: ``seconds`` reference seconds of work for deriving and
    evaluating, as many for the proofs (:mod:`symderiv.decide`); the wall clock only as a safety net."""
    init_text = "generic (every parameter its own symbol)" if init is None else _describe_init(init)
    # any integer seeds both generators (NumPy's wants a non-negative one)
    rng_seed = zlib.crc32(claim.encode("utf-8", "replace")) if seed is None else seed % (1 << 64)
    from ..bounded import BoundExceeded, IsolationUnavailable, run_counted
    from ..decide import work_of_seconds

    # deriving and evaluating get at least _MIN_EVALUATION_S: a small seconds= bounds the proof, while the
    # search for a counterexample (and the numeric evidence of an undecided link) still runs
    evaluation = max(seconds, _MIN_EVALUATION_S)
    work = work_of_seconds(evaluation)
    try:  # a work budget (the same verdict on every machine); the wall clock only as a safety net
        verdict, _ = run_counted(_check_here, claim, resolved, net, init, init_text, rng_seed, seconds,
                                 seconds=safety_net_seconds(evaluation), memory_mb=memory_mb, reraise=True,
                                 allowed=_VERDICT_TYPES, work=work)
        return verdict
    except IsolationUnavailable:
        raise
    except BoundExceeded as exc:
        reason = bound_reason(exc, work, evaluation, "the derivation and evaluation", "their")
        links = [LinkVerdict(k, to_text(a), to_text(b), _relation(a, b, same), UNDECIDED, reason, None, "", 0,
                             0, to_latex(a), to_latex(b))
                 for k, (a, b, same) in enumerate(_pairs(resolved), 1)]
        return Verdict(claim, UNDECIDED, links, net.describe(), init_text, [], parsed.syntax)


#: most claims in one derivation
MAX_LINES = 100


def _check_derivation(text: str, net, init, syntax: str, seconds: float, seed, memory_mb: int,
                      convention: str) -> Verdict:
    """A derivation of several lines (:mod:`.derivation`): each line checked in turn under the one time
    bound, definitions substituted into later lines; the links numbered through, each with its line."""
    if len(text) > 5 * MAX_CHARS:
        raise SizeLimitError(f"the derivation is {len(text)} characters long (limit {5 * MAX_CHARS})")
    lines = in_place_lines(split_derivation(text), getattr(net, "depth", None))  # NumPy's A[range(N), y] -= 1, dscores /= N
    if len(lines) > MAX_LINES:
        raise SizeLimitError(f"the derivation has {len(lines)} lines (limit {MAX_LINES}); check it in parts")
    init_text = "generic (every parameter its own symbol)" if init is None else _describe_init(init)
    links, notes, syntaxes, rows_at = _check_lines(lines, net, init, syntax, seconds, seed, memory_mb, convention)
    if rows_at is not None and any(link.line < rows_at for link in links):
        # one derivation, one notation: a line that pins CS231n's layout (np.dot(dscores, W2.T)) pins it for every
        # line, also those before it, which may fit symderiv's too with another verdict (dscores.T @ hidden_layer)
        pinned = next(n for n in notes if n.startswith(f"line {rows_at} ") and "lines after it are read" in n).split(";")[0]
        why = f"detected: {pinned}; the whole derivation is read in that convention"
        links, notes, syntaxes, _ = _check_lines(lines, net, init, syntax, seconds, seed, memory_mb, "cs231n", why)
        notes.insert(0, f"{pinned}; every line of the derivation, the ones before it too, is read in the same convention")
    if not links:
        raise ClaimSyntaxError("the derivation only defines names; it claims nothing to check")
    statuses = [l.status for l in links]
    status = REFUTED if REFUTED in statuses else PROVED if all(s == PROVED for s in statuses) else UNDECIDED
    merged: list = []
    for n in notes:  # a note said by several lines once, in order
        if n not in merged:
            merged.append(n)
    return Verdict(text, status, links, net.describe(), init_text, merged, syntaxes.pop() if len(syntaxes) == 1 else "mixed")


def _check_lines(lines, net, init, syntax: str, seconds: float, seed, memory_mb: int, convention: str,
                 why: str = ""):
    """Check a derivation's lines in turn, definitions substituted into later lines: ``(links, notes, syntaxes,
    rows_at)``, ``rows_at`` the first line read with row vectors because it writes them (``convention="auto"``;
    the lines after it are read so too), else None."""
    defs: dict = {}
    links: list = []
    notes: list = []
    syntaxes = set()
    rows_at = None
    for line in lines:
        try:
            parsed = parse_claim(line.text, syntax, seconds=min(5.0, seconds))
        except SymderivError as exc:
            raise type(exc)(f"line {line.number} ({line.text[:60]}): {exc}") from None
        syntaxes.add(parsed.syntax)
        sides = tuple(substitute(s, defs) for s in parsed.sides)
        if line.defines:
            head = parsed.sides[0]
            if len(sides) != 2 or not (isinstance(head, Q) and head.kind == "var" and head.name == line.defines):
                raise ClaimSyntaxError(f"line {line.number}: a definition is 'Let {line.defines} = expression'")
            defs[line.defines] = sides[1]
            notes.append(f"line {line.number} defines {line.defines} = {to_text(sides[1])[:80]} (used in the lines after it)")
            continue
        parsed = replace(parsed, sides=sides)
        try:  # every line has the work budget of a claim: a line's verdict does not depend on the lines before
            verdict = _check_parsed(line.text, parsed, net, init, seed, memory_mb, seconds, convention, why)
        except SymderivError as exc:
            raise type(exc)(f"line {line.number} ({line.text[:60]}): {exc}") from None
        if convention == "auto" and (any(_ROWS_DETECTED in n for n in verdict.notes) or writes_batch_code(parsed) and
                                     any(_IN_OUT_DETECTED in n for n in verdict.notes)):
            convention, rows_at = "cs231n", line.number  # one derivation, one notation: the lines after it too
            why = f"detected: line {line.number} {_pinned_by(verdict.notes)}"
            notes.append(f"line {line.number} {_pinned_by(verdict.notes)}; the lines after it are read in the same convention")
        for k, link in enumerate(verdict.links, 1):
            links.append(replace(link, number=len(links) + 1, line=line.row_of(k)))
        notes += [n if n.startswith("line ") else f"line {line.number}: {n}" for n in verdict.notes]
    return links, notes, syntaxes, rows_at


def _pinned_by(notes: list) -> str:
    """What pinned a derivation's line to CS231n's layout, from its verdict's notes."""
    if any(_ROWS_DETECTED in n for n in notes):
        return "writes row vectors"
    return "is batch code whose shapes fit only W of shape n_(l-1) × n_l (CS231n's layout)"


def _describe_init(init) -> str:
    describe = getattr(init, "describe", None)
    return describe() if callable(describe) else str(init)[:80]
