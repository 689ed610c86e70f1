# Validation (the Wasm GC type rules) of groups of Python values, with the error messages.
# Included in registry.pyx. Validation runs on a group in hash-consing form: a concrete heap
# type is an engine index (>= 0, an already registered type) or a group-relative index
# (-1 - i), so type equivalence is plain equality and declared subtyping is a walk of short
# chains. cvalidate.pxi applies the same rules to a group's words.


# Wasm engines' limit on supertype chains (wasmparser's MAX_WASM_SUBTYPING_DEPTH); it also
# bounds each record's display, which would otherwise grow quadratically over a long chain.
cdef enum:
    MAX_SUBTYPING_DEPTH = 63


@cython.final
@cython.auto_pickle(False)
cdef class _Ctx:
    cdef TypeRegistry registry
    cdef tuple ktypes          # the group being validated (hash-consing form); () for queries
    cdef list chains           # per group member: its root-first chain, itself included

    cdef int kind(self, object h) except -1:
        cdef Py_ssize_t i = h
        if i < 0:
            return _kind_code((<SubType>self.ktypes[-1 - i]).composite)
        return self.registry._kind(h)

    cdef tuple chain(self, object h):
        cdef Py_ssize_t i = h
        if i < 0:
            return self.chains[-1 - i]
        return self.registry._display(h)

    cdef bint heap_sub(self, object a, object b) except -1:
        cdef int k
        cdef uint32_t bc
        if type(a) is AbstractHeapType:
            if type(b) is AbstractHeapType:
                return _abstract_sub((<AbstractHeapType>a).code, (<AbstractHeapType>b).code)
            k = self.kind(b)
            return (<AbstractHeapType>a).code == (HEAP_NOFUNC if k == COMPOSITE_FUNC
                                                  else HEAP_NONE)
        k = self.kind(a)
        if type(b) is AbstractHeapType:
            bc = (<AbstractHeapType>b).code
            if k == COMPOSITE_FUNC:
                return bc == HEAP_FUNC
            return (bc == HEAP_ANY or bc == HEAP_EQ
                    or bc == (HEAP_STRUCT if k == COMPOSITE_STRUCT else HEAP_ARRAY))
        if a == b:
            return True
        ca = self.chain(a)
        db = len(self.chain(b)) - 1
        return len(ca) > db and ca[db] == b

    cdef bint ref_sub(self, RefType a, RefType b) except -1:
        if a.nullable and not b.nullable:
            return False
        return self.heap_sub(a.heap, b.heap)

    cdef bint val_sub(self, object a, object b) except -1:
        if type(a) is RefType and type(b) is RefType:
            return self.ref_sub(<RefType>a, <RefType>b)
        return a is b

    cdef str field_mismatch(self, FieldType a, FieldType b):
        """Why field `a` cannot stand for field `b` in a subtype, or None if it can."""
        if a.mutable != b.mutable:
            return "mutability must be the same"
        if a.mutable:
            if a.storage != b.storage:
                return "a mutable field's type must be identical (invariant)"
            return None
        if type(a.storage) is StorageType and (<StorageType>a.storage).packed:
            if a.storage is not b.storage:
                return "a packed field matches only the same packed type"
            return None
        if not self.val_sub(a.storage, b.storage):
            return "an immutable field's type must be a subtype (covariant)"
        return None


cdef str _label(Py_ssize_t start, Py_ssize_t j):
    if start < 0:
        return "the new type"
    return f"type {start + j}"


cdef str _show(object x, Py_ssize_t start):
    """A storage or value type in error messages, in the text format, with group-relative
    indices shown as the module indices the caller wrote (`(ref null $3)`)."""
    if type(x) is RefType and type((<RefType>x).heap) is not AbstractHeapType:
        h = (<RefType>x).heap
        if h < 0 and start >= 0:
            return str(_mk_ref(start - 1 - h, (<RefType>x).nullable))
        # An earlier group's type (an engine index), or a host group's own member.
        where = f"engine type {h}" if h >= 0 else f"group type {-1 - h}"
        return f"(ref {'null ' if (<RefType>x).nullable else ''}{where})"
    return str(x)


cdef int _validate_group(TypeRegistry reg, tuple ktypes, Py_ssize_t start,
                         tuple orig) except -1:
    cdef Py_ssize_t n = len(ktypes), j, k
    cdef _Ctx ctx = _Ctx.__new__(_Ctx)
    cdef SubType st, sup_t
    cdef str why
    ctx.registry = reg
    ctx.ktypes = ktypes
    ctx.chains = []
    for j in range(n):
        st = ktypes[j]
        if st.supertype is None:
            ctx.chains.append((-1 - j,))
        else:
            chain = ctx.chain(st.supertype) + (-1 - j,)
            if len(chain) - 1 > MAX_SUBTYPING_DEPTH:
                raise InvalidTypeError(
                    f"{_label(start, j)}: {len(chain) - 1} supertypes above it (rule: "
                    f"subtyping depth is at most {MAX_SUBTYPING_DEPTH})")
            ctx.chains.append(chain)
    for j in range(n):
        st = ktypes[j]
        c = st.composite
        if type(c) is FuncType:
            for v in (<FuncType>c).params + (<FuncType>c).results:
                if type(v) is StorageType and (<StorageType>v).packed:
                    raise InvalidTypeError(
                        f"{_label(start, j)}: {v} in a function signature (rule: packed "
                        "types i8/i16 are only allowed as struct or array field storage)")
        if st.supertype is None:
            continue
        s = st.supertype
        sup_t = ktypes[-1 - s] if s < 0 else reg._type_of(s)
        sup_name = repr((<SubType>orig[j]).supertype)
        pre = f"{_label(start, j)}: supertype {sup_name}"
        if sup_t.final:
            raise InvalidTypeError(f"{pre} is final (rule: a supertype must not be final)")
        sc = sup_t.composite
        if type(sc) is not type(c):
            raise InvalidTypeError(
                f"{pre} is a {type(sc).__name__}, not a {type(c).__name__} "
                "(rule: a subtype must be of the same kind as its supertype)")
        if type(c) is StructType:
            sub_f = (<StructType>c).fields
            sup_f = (<StructType>sc).fields
            if len(sub_f) < len(sup_f):
                raise InvalidTypeError(
                    f"{pre} has {len(sup_f)} fields but the subtype only {len(sub_f)} "
                    "(rule: struct width subtyping, a subtype keeps every field)")
            for k in range(len(sup_f)):
                why = ctx.field_mismatch(sub_f[k], sup_f[k])
                if why is not None:
                    raise InvalidTypeError(
                        f"{pre}: field {k} does not match ({why}; rule: struct depth "
                        "subtyping)")
        elif type(c) is ArrayType:
            why = ctx.field_mismatch((<ArrayType>c).element, (<ArrayType>sc).element)
            if why is not None:
                raise InvalidTypeError(
                    f"{pre}: the element type does not match ({why}; rule: array "
                    "element subtyping)")
        else:
            fp, fr = (<FuncType>c).params, (<FuncType>c).results
            sp, sr = (<FuncType>sc).params, (<FuncType>sc).results
            if len(fp) != len(sp) or len(fr) != len(sr):
                raise InvalidTypeError(
                    f"{pre} has a different number of params or results (rule: func "
                    "subtyping keeps the arity)")
            for k in range(len(fp)):
                if not ctx.val_sub(sp[k], fp[k]):
                    raise InvalidTypeError(
                        f"{pre}: param {k} {_show(fp[k], start)} does not accept the "
                        f"supertype's {_show(sp[k], start)} (rule: params are "
                        "contravariant)")
            for k in range(len(fr)):
                if not ctx.val_sub(fr[k], sr[k]):
                    raise InvalidTypeError(
                        f"{pre}: result {k} {_show(fr[k], start)} is not a subtype of "
                        f"{_show(sr[k], start)} (rule: results are covariant)")
    return 0
