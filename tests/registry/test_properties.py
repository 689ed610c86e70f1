"""Hash consing and subtyping against a plain-Python reference model (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from registry import (
    ANY,
    EQ,
    FUNC,
    I8,
    I16,
    I32,
    I64,
    NONE,
    V128,
    ArrayType,
    FieldType,
    FuncType,
    RecGroup,
    RefType,
    StructType,
    SubType,
    TypeRegistry,
)

# ---- generating valid modules ----------------------------------------------------------------
# Few building blocks, so that equal groups (and equal types in different groups) are common.


@st.composite
def modules(draw, max_groups=5):
    types: list[SubType] = []
    groups: list[RecGroup] = []
    for _ in range(draw(st.integers(1, max_groups))):
        start = len(types)
        size = draw(st.integers(0, 3))
        end = start + size
        members: list[SubType] = []

        def ref(end=end):
            if draw(st.booleans()):
                return RefType(draw(st.sampled_from([ANY, EQ, FUNC, NONE])),
                               draw(st.booleans()))
            return RefType(draw(st.integers(0, end - 1)), draw(st.booleans()))

        def storage():
            return ref() if draw(st.booleans()) else draw(st.sampled_from([I8, I32]))

        for k in range(size):
            me = start + k
            candidates = [i for i in range(me) if not (types + members)[i].final]
            sup = draw(st.sampled_from(candidates)) if candidates and draw(
                st.booleans()) else None
            final = draw(st.booleans())
            if sup is not None:
                parent = (types + members)[sup].composite
                if isinstance(parent, StructType):
                    extra = draw(st.lists(st.builds(FieldType, st.just(None).map(
                        lambda _: storage()), st.booleans()), max_size=2))
                    comp = StructType(parent.fields + tuple(extra))
                else:
                    comp = parent
            else:
                kind = draw(st.sampled_from(["struct", "array", "func"]))
                if kind == "struct":
                    comp = StructType([FieldType(storage(), draw(st.booleans()))
                                       for _ in range(draw(st.integers(0, 2)))])
                elif kind == "array":
                    comp = ArrayType(FieldType(storage(), draw(st.booleans())))
                else:
                    vals = [ref() if draw(st.booleans()) else I64
                            for _ in range(draw(st.integers(0, 2)))]
                    comp = FuncType(vals[:1], vals[1:])
            members.append(SubType(comp, final=final, supertype=sup))
        types.extend(members)
        groups.append(RecGroup(members))
    return groups


# ---- the reference model ----------------------------------------------------------------

class Model:
    """Canonical ids by brute force: a type's id is (its group's canonical key, position)."""

    def __init__(self):
        self.ids: dict[tuple, int] = {}

    def canon(self, groups):
        out: list[int] = []
        start = 0
        for g in groups:
            end = start + len(g)

            def fix(x, start=start):
                if isinstance(x, RefType) and isinstance(x.heap, int):
                    h = x.heap
                    return ("ref", ("rel", h - start) if h >= start else ("id", out[h]),
                            x.nullable)
                if isinstance(x, RefType):
                    return ("ref", x.heap.name, x.nullable)
                return x.name

            key = []
            for t in g:
                c = t.composite
                if isinstance(c, StructType):
                    body = ("struct", tuple((fix(f.storage), f.mutable) for f in c.fields))
                elif isinstance(c, ArrayType):
                    body = ("array", fix(c.element.storage), c.element.mutable)
                else:
                    body = ("func", tuple(map(fix, c.params)), tuple(map(fix, c.results)))
                s = t.supertype
                sup = None if s is None else (("rel", s - start) if s >= start
                                              else ("id", out[s]))
                key.append((body, t.final, sup))
            key = tuple(key)
            for k in range(len(g)):
                out.append(self.ids.setdefault((key, k), len(self.ids)))
            start = end
        return out


def model_subtypes(groups, ids):
    flat = [t for g in groups for t in g]

    def chain(i):
        seen = [ids[i]]
        while flat[i].supertype is not None:
            i = flat[i].supertype
            seen.append(ids[i])
        return seen

    return {(a, b): ids[b] in chain(a) for a in range(len(flat)) for b in range(len(flat))}


@settings(max_examples=150)
@given(st.lists(modules(), min_size=1, max_size=3))
def test_hash_consing_and_subtyping_match_the_model(mods):
    reg = TypeRegistry()
    model = Model()
    colls = []
    by_id: dict[int, int] = {}
    for groups in mods:
        c = reg.register_module(groups)
        reg.verify()
        colls.append(c)
        ids = model.canon(groups)
        shared = c.shared_types
        # Same model id <=> same shared index, within and across modules.
        for i, mid in enumerate(ids):
            assert by_id.setdefault(mid, shared[i]) == shared[i]
        assert len(set(by_id.values())) == len(by_id)
        for (a, b), expected in model_subtypes(groups, ids).items():
            assert reg.is_subtype(shared[a], shared[b]) is expected
    for c in colls:
        c.close()
    assert len(reg) == 0


@settings(max_examples=80)
@given(st.lists(modules(max_groups=3), min_size=2, max_size=5), st.randoms())
def test_any_drop_order_empties_the_registry(mods, rnd):
    reg = TypeRegistry()
    colls = [reg.register_module(g) for g in mods]
    roots = [reg.root(i) for c in colls for i in c.shared_types[:1]]
    handles = colls + roots
    rnd.shuffle(handles)
    for h in handles:
        h.close()
        reg.verify()
    assert len(reg) == 0


STORAGE = st.sampled_from([I8, I16, I32, I64, V128, RefType(ANY), RefType(FUNC)])


@given(st.lists(STORAGE, max_size=8), st.lists(STORAGE, max_size=8))
def test_subtype_layout_has_its_supertype_layout_as_prefix(base, extra):
    reg = TypeRegistry()
    fields = [FieldType(s) for s in base]
    c = reg.register_module([SubType(StructType(fields), final=False),
                             SubType(StructType(fields + [FieldType(s) for s in extra]),
                                     supertype=0)])
    a, b = (reg.layout(i) for i in c.shared_types)
    assert b.fields[:len(a.fields)] == a.fields
    assert b.size >= a.size and b.size % b.align == 0
    for f in b.fields:
        assert f.offset % f.size == 0 and f.offset >= 24
    c.close()
