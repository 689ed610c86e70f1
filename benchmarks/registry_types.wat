;; The registry workload's types for the Wasm peers: one rec group of 8 struct types, each
;; extending the one before (the same chain as drc/bench/workloads.py REGISTRY_CHAIN).
;; Compiling this module registers the group with the engine; compiling it again while
;; the first module lives re-registers it (hash-consed).
(module
  (rec
    (type $t0 (sub (struct (field i32))))
    (type $t1 (sub $t0 (struct (field i32) (field i32))))
    (type $t2 (sub $t1 (struct (field i32) (field i32) (field i32))))
    (type $t3 (sub $t2 (struct (field i32) (field i32) (field i32) (field i32))))
    (type $t4 (sub $t3 (struct (field i32) (field i32) (field i32) (field i32) (field i32))))
    (type $t5 (sub $t4 (struct (field i32) (field i32) (field i32) (field i32) (field i32) (field i32))))
    (type $t6 (sub $t5 (struct (field i32) (field i32) (field i32) (field i32) (field i32) (field i32) (field i32))))
    (type $t7 (sub $t6 (struct (field i32) (field i32) (field i32) (field i32) (field i32) (field i32) (field i32) (field i32)))))
)
