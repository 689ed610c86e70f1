# Type values: immutable, hashable, equal by structure, with a repr that pastes back (given
# `from registry import *`) and a str in the Wasm text format (`(ref null eq)`, `(mut i8)`,
# `(ref $3)` for type index 3), which is what error messages show. Included in registry.pyx
# so the registry reads their fields as C struct members. Hashes are computed once and
# cached: hash consing hashes whole groups.

#
# Python code may call `Cls.__new__(Cls, ...)` without `__init__`, so every value is checked in
# `__cinit__`: a half-made value (a FieldType with no storage) would reach the layout code.
# The module's own makers pass `_INTERNAL`, which Python code cannot reach, and fill the fields
# themselves. `__init__` then only refuses a second call (values are immutable).
cdef object _INTERNAL = object()


cdef int _check_internal(tuple args, str message) except -1:
    if len(args) == 0 or args[0] is not _INTERNAL:
        raise TypeError(message)
    return 0


@cython.final
cdef class StorageType:
    """A numeric storage type: ``I8 I16`` (packed, field storage only), ``I32 I64 F32 F64
    V128``. ``code`` is the matching ``STORAGE_*`` value of ``registry/typeinfo.pxd``."""
    cdef readonly str name
    cdef readonly int code
    cdef readonly int size
    cdef readonly bint packed

    def __cinit__(self, *args):
        _check_internal(args, "StorageType values are the module constants; it cannot be "
                              "instantiated")

    def __init__(self, *args, **kwargs):
        raise TypeError("StorageType values are the module constants; it cannot be "
                        "instantiated")

    def __repr__(self):
        return self.name

    def __str__(self):
        return self.name.lower()

    def __reduce__(self):
        return self.name


@cython.final
cdef class AbstractHeapType:
    """An abstract heap type (``ANY EQ I31 STRUCT ARRAY NONE FUNC NOFUNC EXTERN NOEXTERN EXN
    NOEXN``). ``code`` is the matching ``HEAP_*`` value of ``registry/typeinfo.pxd``."""
    cdef readonly str name
    cdef readonly uint32_t code
    cdef readonly AbstractHeapType top
    cdef readonly AbstractHeapType bottom

    def __cinit__(self, *args):
        _check_internal(args, "AbstractHeapType values are the module constants; it cannot be "
                              "instantiated")

    def __init__(self, *args, **kwargs):
        raise TypeError("AbstractHeapType values are the module constants; it cannot be "
                        "instantiated")

    def __repr__(self):
        return self.name

    def __str__(self):
        return self.name.lower()

    def __reduce__(self):
        return self.name

    @property
    def is_bottom(self):
        return self is self.bottom


cdef StorageType _storage(str name, int code, int size):
    cdef StorageType s = StorageType.__new__(StorageType, _INTERNAL)
    s.name = name
    s.code = code
    s.size = size
    s.packed = code == STORAGE_I8 or code == STORAGE_I16
    return s


I8 = _storage("I8", STORAGE_I8, 1)
I16 = _storage("I16", STORAGE_I16, 2)
I32 = _storage("I32", STORAGE_I32, 4)
I64 = _storage("I64", STORAGE_I64, 8)
F32 = _storage("F32", STORAGE_F32, 4)
F64 = _storage("F64", STORAGE_F64, 8)
V128 = _storage("V128", STORAGE_V128, 16)

# code -> AbstractHeapType, for the lattice code below and for decoders.
cdef dict _ABSTRACT = {}


cdef AbstractHeapType _abstract(str name, uint32_t code):
    cdef AbstractHeapType h = AbstractHeapType.__new__(AbstractHeapType, _INTERNAL)
    h.name = name
    h.code = code
    _ABSTRACT[code] = h
    return h


ANY = _abstract("ANY", HEAP_ANY)
EQ = _abstract("EQ", HEAP_EQ)
I31 = _abstract("I31", HEAP_I31)
STRUCT = _abstract("STRUCT", HEAP_STRUCT)
ARRAY = _abstract("ARRAY", HEAP_ARRAY)
NONE = _abstract("NONE", HEAP_NONE)
FUNC = _abstract("FUNC", HEAP_FUNC)
NOFUNC = _abstract("NOFUNC", HEAP_NOFUNC)
EXTERN = _abstract("EXTERN", HEAP_EXTERN)
NOEXTERN = _abstract("NOEXTERN", HEAP_NOEXTERN)
EXN = _abstract("EXN", HEAP_EXN)
NOEXN = _abstract("NOEXN", HEAP_NOEXN)

for _h in (ANY, EQ, I31, STRUCT, ARRAY, NONE):
    (<AbstractHeapType>_h).top, (<AbstractHeapType>_h).bottom = ANY, NONE
for _h in (FUNC, NOFUNC):
    (<AbstractHeapType>_h).top, (<AbstractHeapType>_h).bottom = FUNC, NOFUNC
for _h in (EXTERN, NOEXTERN):
    (<AbstractHeapType>_h).top, (<AbstractHeapType>_h).bottom = EXTERN, NOEXTERN
for _h in (EXN, NOEXN):
    (<AbstractHeapType>_h).top, (<AbstractHeapType>_h).bottom = EXN, NOEXN
del _h


cdef inline uint32_t _top_code(uint32_t c) noexcept nogil:
    if c <= HEAP_NONE:
        return HEAP_ANY
    if c <= HEAP_NOFUNC:
        return HEAP_FUNC
    if c <= HEAP_NOEXTERN:
        return HEAP_EXTERN
    return HEAP_EXN


cdef inline bint _is_bottom_code(uint32_t c) noexcept nogil:
    return c == HEAP_NONE or c == HEAP_NOFUNC or c == HEAP_NOEXTERN or c == HEAP_NOEXN


cdef bint _abstract_sub(uint32_t a, uint32_t b) noexcept nogil:
    if _top_code(a) != _top_code(b):
        return False
    if a == b or b == _top_code(b) or _is_bottom_code(a):
        return True
    return b == HEAP_EQ and (a == HEAP_I31 or a == HEAP_STRUCT or a == HEAP_ARRAY)


cdef object _check_index_value(object x, str what):
    if isinstance(x, bool) or not isinstance(x, int):
        raise TypeError(f"{what} must be an int type index, not {type(x).__name__}")
    if x < 0 or x >= <uint32_t>HEAP_ABSTRACT_BASE:
        raise ValueError(f"{what} {x} is out of range [0, {<uint32_t>HEAP_ABSTRACT_BASE})")
    return int(x)


cdef object _check_bool(object x, str what):
    if type(x) is not bool:
        raise TypeError(f"{what} must be a bool, not {type(x).__name__}")
    return x


cdef str _heap_text(object heap):
    """A heap type in the text format: `eq`, or `$3` for the type at index 3."""
    if type(heap) is AbstractHeapType:
        return str(heap)
    return f"${heap}"


@cython.final
cdef class RefType:
    """``RefType(heap, nullable=True)``: a reference type.

    ``heap`` is an abstract heap type (``ANY`` ...) or an ``int`` type index: module-level
    inside ``register_module``, an engine index everywhere else.
    """
    cdef readonly object heap
    cdef readonly bint nullable
    cdef bint _inited
    cdef Py_hash_t _hash

    def __cinit__(self, heap, nullable=True):
        if heap is _INTERNAL:
            self._inited = True
            return
        if type(heap) is not AbstractHeapType:
            heap = _check_index_value(heap, "heap")
        self.nullable = _check_bool(nullable, "nullable")
        self.heap = heap

    def __init__(self, heap, nullable=True):
        if self._inited:
            raise TypeError("RefType values are immutable")
        self._inited = True

    def __hash__(self):
        if self._hash == 0:
            h = hash((1, self.heap, self.nullable))
            self._hash = h if h != 0 else 1
        return self._hash

    def __eq__(self, other):
        if type(other) is not RefType:
            return NotImplemented
        cdef RefType o = <RefType>other
        return self.nullable == o.nullable and (self.heap is o.heap or self.heap == o.heap)

    def __repr__(self):
        if self.nullable:
            return f"RefType({self.heap!r})"
        return f"RefType({self.heap!r}, nullable=False)"

    def __str__(self):
        return f"(ref {'null ' if self.nullable else ''}{_heap_text(self.heap)})"

    def __reduce__(self):
        return (RefType, (self.heap, self.nullable))


cdef inline RefType _mk_ref(object heap, bint nullable):
    cdef RefType r = RefType.__new__(RefType, _INTERNAL)
    r.heap = heap
    r.nullable = nullable
    return r


cdef object _check_storage(object s, str what, bint allow_packed=True):
    if type(s) is RefType or type(s) is StorageType:
        return s
    raise TypeError(f"{what} must be a storage type (I8 ... V128) or a RefType, "
                    f"not {type(s).__name__}")


@cython.final
cdef class FieldType:
    """``FieldType(storage, mutable=False)``: a struct field or an array element."""
    cdef readonly object storage
    cdef readonly bint mutable
    cdef bint _inited
    cdef Py_hash_t _hash

    def __cinit__(self, storage, mutable=False):
        if storage is _INTERNAL:
            self._inited = True
            return
        self.mutable = _check_bool(mutable, "mutable")
        self.storage = _check_storage(storage, "a field's storage")

    def __init__(self, storage, mutable=False):
        if self._inited:
            raise TypeError("FieldType values are immutable")
        self._inited = True

    def __hash__(self):
        if self._hash == 0:
            h = hash((2, self.storage, self.mutable))
            self._hash = h if h != 0 else 1
        return self._hash

    def __eq__(self, other):
        if type(other) is not FieldType:
            return NotImplemented
        cdef FieldType o = <FieldType>other
        return self.mutable == o.mutable and (self.storage is o.storage
                                              or self.storage == o.storage)

    def __repr__(self):
        if self.mutable:
            return f"FieldType({self.storage!r}, mutable=True)"
        return f"FieldType({self.storage!r})"

    def __str__(self):
        return f"(mut {self.storage})" if self.mutable else str(self.storage)

    def __reduce__(self):
        return (FieldType, (self.storage, self.mutable))


cdef inline FieldType _mk_field(object storage, bint mutable):
    cdef FieldType f = FieldType.__new__(FieldType, _INTERNAL)
    f.storage = storage
    f.mutable = mutable
    return f


cdef tuple _tuple_of(object items, type cls, str what):
    if isinstance(items, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of {cls.__name__}")
    try:
        t = tuple(items)
    except TypeError:
        raise TypeError(f"{what} must be a sequence of {cls.__name__}, "
                        f"not {type(items).__name__}") from None
    for x in t:
        if type(x) is not cls:
            raise TypeError(f"{what} must contain only {cls.__name__} values, "
                            f"not {type(x).__name__}")
    return t


cdef tuple _valtypes(object items, str what):
    if isinstance(items, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of value types")
    try:
        t = tuple(items)
    except TypeError:
        raise TypeError(f"{what} must be a sequence of value types, "
                        f"not {type(items).__name__}") from None
    for x in t:
        _check_storage(x, f"each of {what}")
    return t


@cython.final
cdef class StructType:
    """``StructType(fields)``: a struct of ``FieldType`` values, in declaration order."""
    cdef readonly tuple fields
    cdef bint _inited
    cdef Py_hash_t _hash

    def __cinit__(self, fields=()):
        if fields is _INTERNAL:
            self._inited = True
            return
        self.fields = _tuple_of(fields, FieldType, "fields")

    def __init__(self, fields=()):
        if self._inited:
            raise TypeError("StructType values are immutable")
        self._inited = True

    def __hash__(self):
        if self._hash == 0:
            h = hash((3, self.fields))
            self._hash = h if h != 0 else 1
        return self._hash

    def __eq__(self, other):
        if type(other) is not StructType:
            return NotImplemented
        return self.fields == (<StructType>other).fields

    def __repr__(self):
        return f"StructType({self.fields!r})"

    def __str__(self):
        return "".join(["(struct", *[f" (field {f})" for f in self.fields], ")"])

    def __reduce__(self):
        return (StructType, (self.fields,))


@cython.final
cdef class ArrayType:
    """``ArrayType(element)``: an array whose elements are the ``FieldType`` ``element``."""
    cdef readonly FieldType element
    cdef bint _inited
    cdef Py_hash_t _hash

    def __cinit__(self, element):
        if element is _INTERNAL:
            self._inited = True
            return
        if type(element) is not FieldType:
            raise TypeError(f"an array element must be a FieldType, "
                            f"not {type(element).__name__}")
        self.element = element

    def __init__(self, element):
        if self._inited:
            raise TypeError("ArrayType values are immutable")
        self._inited = True

    def __hash__(self):
        if self._hash == 0:
            h = hash((4, self.element))
            self._hash = h if h != 0 else 1
        return self._hash

    def __eq__(self, other):
        if type(other) is not ArrayType:
            return NotImplemented
        return self.element == (<ArrayType>other).element

    def __repr__(self):
        return f"ArrayType({self.element!r})"

    def __str__(self):
        return f"(array {self.element})"

    def __reduce__(self):
        return (ArrayType, (self.element,))


@cython.final
cdef class FuncType:
    """``FuncType(params, results)``: a function type over value types."""
    cdef readonly tuple params
    cdef readonly tuple results
    cdef bint _inited
    cdef Py_hash_t _hash

    def __cinit__(self, params=(), results=()):
        if params is _INTERNAL:
            self._inited = True
            return
        self.results = _valtypes(results, "results")
        self.params = _valtypes(params, "params")

    def __init__(self, params=(), results=()):
        if self._inited:
            raise TypeError("FuncType values are immutable")
        self._inited = True

    def __hash__(self):
        if self._hash == 0:
            h = hash((5, self.params, self.results))
            self._hash = h if h != 0 else 1
        return self._hash

    def __eq__(self, other):
        if type(other) is not FuncType:
            return NotImplemented
        cdef FuncType o = <FuncType>other
        return self.params == o.params and self.results == o.results

    def __repr__(self):
        return f"FuncType({self.params!r}, {self.results!r})"

    def __str__(self):
        params = f" (param {' '.join(map(str, self.params))})" if self.params else ""
        results = f" (result {' '.join(map(str, self.results))})" if self.results else ""
        return f"(func{params}{results})"

    def __reduce__(self):
        return (FuncType, (self.params, self.results))


cdef inline StructType _mk_struct(tuple fields):
    cdef StructType s = StructType.__new__(StructType, _INTERNAL)
    s.fields = fields
    return s


cdef inline ArrayType _mk_array(FieldType element):
    cdef ArrayType a = ArrayType.__new__(ArrayType, _INTERNAL)
    a.element = element
    return a


cdef inline FuncType _mk_func(tuple params, tuple results):
    cdef FuncType f = FuncType.__new__(FuncType, _INTERNAL)
    f.params = params
    f.results = results
    return f


cdef int _kind_code(object composite) except -1:
    if type(composite) is StructType:
        return COMPOSITE_STRUCT
    if type(composite) is ArrayType:
        return COMPOSITE_ARRAY
    return COMPOSITE_FUNC


@cython.final
cdef class SubType:
    """``SubType(composite, final=True, supertype=None)``: a type definition.

    ``composite`` is a ``StructType``, ``ArrayType`` or ``FuncType``; ``supertype`` is an
    ``int`` type index (same convention as ``RefType.heap``) or ``None``.
    """
    cdef readonly object composite
    cdef readonly bint final
    cdef readonly object supertype
    cdef bint _inited
    cdef Py_hash_t _hash

    def __cinit__(self, composite, final=True, supertype=None):
        if composite is _INTERNAL:
            self._inited = True
            return
        if (type(composite) is not StructType and type(composite) is not ArrayType
                and type(composite) is not FuncType):
            raise TypeError("a SubType's composite must be a StructType, ArrayType or "
                            f"FuncType, not {type(composite).__name__}")
        self.final = _check_bool(final, "final")
        if supertype is not None:
            supertype = _check_index_value(supertype, "supertype")
        self.supertype = supertype
        self.composite = composite

    def __init__(self, composite, final=True, supertype=None):
        if self._inited:
            raise TypeError("SubType values are immutable")
        self._inited = True

    def __hash__(self):
        if self._hash == 0:
            h = hash((6, self.composite, self.final, self.supertype))
            self._hash = h if h != 0 else 1
        return self._hash

    def __eq__(self, other):
        if type(other) is not SubType:
            return NotImplemented
        cdef SubType o = <SubType>other
        return (self.final == o.final and self.supertype == o.supertype
                and (self.composite is o.composite or self.composite == o.composite))

    def __repr__(self):
        extra = ""
        if not self.final:
            extra += ", final=False"
        if self.supertype is not None:
            extra += f", supertype={self.supertype!r}"
        return f"SubType({self.composite!r}{extra})"

    def __str__(self):
        # The text format's shorthand: a bare composite type is final with no supertype.
        if self.final and self.supertype is None:
            return str(self.composite)
        sup = "" if self.supertype is None else f" ${self.supertype}"
        return f"(sub{' final' if self.final else ''}{sup} {self.composite})"

    def __reduce__(self):
        return (SubType, (self.composite, self.final, self.supertype))


cdef inline SubType _mk_sub(object composite, bint final, object supertype):
    cdef SubType s = SubType.__new__(SubType, _INTERNAL)
    s.composite = composite
    s.final = final
    s.supertype = supertype
    return s


@cython.final
cdef class RecGroup:
    """``RecGroup(types)``: a recursion group of ``SubType`` values (may be empty)."""
    cdef readonly tuple types
    cdef bint _inited
    cdef Py_hash_t _hash

    def __cinit__(self, types=()):
        if types is _INTERNAL:
            self._inited = True
            return
        self.types = _tuple_of(types, SubType, "a RecGroup's types")

    def __init__(self, types=()):
        if self._inited:
            raise TypeError("RecGroup values are immutable")
        self._inited = True

    def __hash__(self):
        if self._hash == 0:
            h = hash((7, self.types))
            self._hash = h if h != 0 else 1
        return self._hash

    def __eq__(self, other):
        if type(other) is not RecGroup:
            return NotImplemented
        return self.types == (<RecGroup>other).types

    def __len__(self):
        return len(self.types)

    def __iter__(self):
        return iter(self.types)

    def __getitem__(self, i):
        return self.types[i]

    def __repr__(self):
        return f"RecGroup({self.types!r})"

    def __str__(self):
        return "".join(["(rec", *[f" (type {t})" for t in self.types], ")"])

    def __reduce__(self):
        return (RecGroup, (self.types,))


cdef inline RecGroup _mk_group(tuple types):
    cdef RecGroup g = RecGroup.__new__(RecGroup, _INTERNAL)
    g.types = types
    return g


cdef list _as_groups(object groups):
    if isinstance(groups, (RecGroup, SubType, str, bytes)):
        raise TypeError("register_module takes a sequence of RecGroup/SubType values")
    try:
        items = list(groups)
    except TypeError:
        raise TypeError("register_module takes a sequence of RecGroup/SubType values, "
                        f"not {type(groups).__name__}") from None
    cdef list out = []
    for g in items:
        if type(g) is RecGroup:
            out.append(g)
        elif type(g) is SubType:
            out.append(_mk_group((g,)))
        else:
            raise TypeError("register_module takes RecGroup or SubType values, "
                            f"not {type(g).__name__}")
    return out


# ==== Canonicalization =======================================================================
# The same walk rewrites type references in two ways; each rewrite copies only the parts
# that change, so groups without concrete references are shared, not copied. (A registered
# group's runtime form is built from its words: words.pxi.)

cdef enum:
    MODE_MODULE = 1     # module index -> group-relative (-1 - i) inside, engine index outside
    MODE_ENGINE = 3     # engine index -> itself, checked to be registered


@cython.final
@cython.auto_pickle(False)
cdef class _Canon:
    cdef int mode
    cdef Py_ssize_t start          # MODE_MODULE: the group's first module index
    cdef Py_ssize_t end            # MODE_MODULE: one past its last
    cdef Py_ssize_t owner          # the module index being rewritten (error messages)
    cdef list table                # MODE_MODULE: module -> engine
    cdef TypeRegistry registry     # MODE_ENGINE

    cdef object index(self, object h, bint is_super):
        cdef Py_ssize_t i = h
        if self.mode == MODE_ENGINE:
            if (i >= len(self.registry._entries) or self.registry._entries[i] is None):
                what = "supertype" if is_super else "referenced type"
                raise UnknownTypeError(f"the new type's {what} {i} is not registered")
            return h
        if is_super and i >= self.owner:
            raise InvalidTypeError(
                f"type {self.owner}: supertype {i} is not defined before it "
                "(rule: a supertype must be an earlier type)")
        if i >= self.end:
            raise InvalidTypeError(
                f"type {self.owner}: reference to type {i}, which is not defined yet "
                f"(rule: a type may refer only to its own rec group, types "
                f"{self.start}..{self.end - 1}, or earlier ones)")
        if i < self.start:
            return self.table[i]
        return -1 - (i - self.start)

    cdef object valtype(self, object v):
        if type(v) is not RefType:
            return v
        cdef RefType r = <RefType>v
        if type(r.heap) is AbstractHeapType:
            return r
        h = self.index(r.heap, False)
        if h == r.heap:
            return r
        return _mk_ref(h, r.nullable)

    cdef FieldType field(self, FieldType f):
        s = self.valtype(f.storage)
        if s is f.storage:
            return f
        return _mk_field(s, f.mutable)

    cdef tuple valtypes(self, tuple items):
        cdef list out = None
        cdef Py_ssize_t k
        for k in range(len(items)):
            v = self.valtype(items[k])
            if v is not items[k]:
                if out is None:
                    out = list(items)
                out[k] = v
        return items if out is None else tuple(out)

    cdef object composite(self, object c):
        cdef list out = None
        cdef Py_ssize_t k
        cdef tuple fields
        if type(c) is StructType:
            fields = (<StructType>c).fields
            for k in range(len(fields)):
                f = self.field(fields[k])
                if f is not fields[k]:
                    if out is None:
                        out = list(fields)
                    out[k] = f
            return c if out is None else _mk_struct(tuple(out))
        if type(c) is ArrayType:
            f = self.field((<ArrayType>c).element)
            return c if f is (<ArrayType>c).element else _mk_array(f)
        p = self.valtypes((<FuncType>c).params)
        r = self.valtypes((<FuncType>c).results)
        if p is (<FuncType>c).params and r is (<FuncType>c).results:
            return c
        return _mk_func(p, r)

    cdef SubType subtype(self, SubType st):
        sup = st.supertype
        if sup is not None:
            sup = self.index(sup, True)
        c = self.composite(st.composite)
        if c is st.composite and (sup is st.supertype or sup == st.supertype):
            return st
        return _mk_sub(c, st.final, sup)

    cdef RecGroup group(self, RecGroup g):
        cdef tuple types = g.types
        cdef list out = None
        cdef Py_ssize_t k
        for k in range(len(types)):
            self.owner = self.start + k
            st = self.subtype(types[k])
            if st is not types[k]:
                if out is None:
                    out = list(types)
                out[k] = st
        return g if out is None else _mk_group(tuple(out))
