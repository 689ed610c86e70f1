;; The benchmark workloads as WebAssembly GC, for the Wasmtime and V8 peers.
;;
;; Each export runs one whole workload and returns its checksum, so the host times a single call
;; and the check cannot be skipped. The algorithms match drc/bench/workloads.py line for line:
;; any change here must be made there (and in the drc drivers) too.
(module
  (type $node (struct (field $left (mut (ref null $node)))
                      (field $right (mut (ref null $node)))))
  (type $cell (struct (field $value (mut i64))
                      (field $next (mut (ref null $cell)))))
  (type $cells (array (mut (ref null $cell))))
  (type $dnode (struct (field $dvalue (mut i64))
                       (field $prev (mut (ref null $dnode)))
                       (field $dnext (mut (ref null $dnode)))))

  ;; A complete tree of the given depth: 2^(depth+1) - 1 nodes.
  (func $bottom_up_tree (param $depth i32) (result (ref $node))
    (if (result (ref $node)) (i32.gt_s (local.get $depth) (i32.const 0))
      (then
        (struct.new $node
          (call $bottom_up_tree (i32.sub (local.get $depth) (i32.const 1)))
          (call $bottom_up_tree (i32.sub (local.get $depth) (i32.const 1)))))
      (else
        (struct.new $node (ref.null $node) (ref.null $node)))))

  ;; The node count, walking the tree the way the Benchmarks Game's check does.
  (func $check (param $tree (ref $node)) (result i64)
    (local $left (ref null $node))
    (local.set $left (struct.get $node $left (local.get $tree)))
    (if (result i64) (ref.is_null (local.get $left))
      (then (i64.const 1))
      (else
        (i64.add
          (i64.add (i64.const 1) (call $check (ref.as_non_null (local.get $left))))
          (call $check (ref.as_non_null (struct.get $node $right (local.get $tree))))))))

  ;; Stretch tree, long-lived tree, then 2^(max - d + 4) short-lived trees for each depth d.
  ;; Returns the sum of every check: the number of nodes allocated.
  (func (export "binary_trees") (param $n i32) (result i64)
    (local $max_depth i32) (local $depth i32) (local $iterations i32) (local $i i32)
    (local $sum i64) (local $long_lived (ref null $node))
    (local.set $max_depth
      (select (local.get $n) (i32.const 6) (i32.gt_s (local.get $n) (i32.const 6))))
    (local.set $sum
      (call $check (call $bottom_up_tree (i32.add (local.get $max_depth) (i32.const 1)))))
    (local.set $long_lived (call $bottom_up_tree (local.get $max_depth)))
    (local.set $depth (i32.const 4))
    (block $done
      (loop $depths
        (br_if $done (i32.gt_s (local.get $depth) (local.get $max_depth)))
        (local.set $iterations
          (i32.shl (i32.const 1)
            (i32.add (i32.sub (local.get $max_depth) (local.get $depth)) (i32.const 4))))
        (local.set $i (i32.const 0))
        (block $trees_done
          (loop $trees
            (br_if $trees_done (i32.ge_s (local.get $i) (local.get $iterations)))
            (local.set $sum
              (i64.add (local.get $sum)
                (call $check (call $bottom_up_tree (local.get $depth)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $trees)))
        (local.set $depth (i32.add (local.get $depth) (i32.const 2)))
        (br $depths)))
    (i64.add (local.get $sum) (call $check (ref.as_non_null (local.get $long_lived)))))

  ;; Each round builds a list of `length` cells holding i + round (prepending), walks it
  ;; summing the values, then drops it.
  (func (export "list_churn") (param $length i32) (param $rounds i32) (result i64)
    (local $round i32) (local $i i32) (local $sum i64)
    (local $head (ref null $cell)) (local $walk (ref null $cell))
    (block $rounds_done
      (loop $round_loop
        (br_if $rounds_done (i32.ge_s (local.get $round) (local.get $rounds)))
        (local.set $head (ref.null $cell))
        (local.set $i (i32.const 0))
        (block $built
          (loop $build
            (br_if $built (i32.ge_s (local.get $i) (local.get $length)))
            (local.set $head
              (struct.new $cell
                (i64.extend_i32_s (i32.add (local.get $i) (local.get $round)))
                (local.get $head)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $build)))
        (local.set $walk (local.get $head))
        (block $walked
          (loop $walk_loop
            (br_if $walked (ref.is_null (local.get $walk)))
            (local.set $sum
              (i64.add (local.get $sum) (struct.get $cell $value (local.get $walk))))
            (local.set $walk (struct.get $cell $next (local.get $walk)))
            (br $walk_loop)))
        (local.set $head (ref.null $cell))
        (local.set $walk (ref.null $cell))
        (local.set $round (i32.add (local.get $round) (i32.const 1)))
        (br $round_loop)))
    (local.get $sum))

  ;; Each round fills an array of `length` refs with one shared cell (value = round) and sums
  ;; it, then fills a second array with fresh cells (value = i) and sums that.
  (func (export "array_churn") (param $length i32) (param $rounds i32) (result i64)
    (local $round i32) (local $i i32) (local $sum i64) (local $array (ref null $cells))
    (block $rounds_done
      (loop $round_loop
        (br_if $rounds_done (i32.ge_s (local.get $round) (local.get $rounds)))
        (local.set $array
          (array.new $cells
            (struct.new $cell (i64.extend_i32_s (local.get $round)) (ref.null $cell))
            (local.get $length)))
        (local.set $i (i32.const 0))
        (block $shared_done
          (loop $shared
            (br_if $shared_done (i32.ge_s (local.get $i) (local.get $length)))
            (local.set $sum
              (i64.add (local.get $sum)
                (struct.get $cell $value
                  (array.get $cells (local.get $array) (local.get $i)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $shared)))
        (local.set $array (array.new $cells (ref.null $cell) (local.get $length)))
        (local.set $i (i32.const 0))
        (block $filled
          (loop $fill
            (br_if $filled (i32.ge_s (local.get $i) (local.get $length)))
            (array.set $cells (local.get $array) (local.get $i)
              (struct.new $cell (i64.extend_i32_s (local.get $i)) (ref.null $cell)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $fill)))
        (local.set $i (i32.const 0))
        (block $fresh_done
          (loop $fresh
            (br_if $fresh_done (i32.ge_s (local.get $i) (local.get $length)))
            (local.set $sum
              (i64.add (local.get $sum)
                (struct.get $cell $value
                  (array.get $cells (local.get $array) (local.get $i)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $fresh)))
        (local.set $array (ref.null $cells))
        (local.set $round (i32.add (local.get $round) (i32.const 1)))
        (br $round_loop)))
    (local.get $sum))
;; Each round builds a doubly linked list of `length` nodes holding i + round (prepending:
  ;; the old head's prev points back at the new node), walks it forward summing the values,
  ;; walks back from the tail counting the nodes, then drops it. Every dropped list is a cycle,
  ;; which reference counting alone never frees.
  (func (export "cycle_churn") (param $length i32) (param $rounds i32) (result i64)
    (local $round i32) (local $i i32) (local $sum i64)
    (local $head (ref null $dnode)) (local $node (ref null $dnode)) (local $tail (ref null $dnode))
    (block $rounds_done
      (loop $round_loop
        (br_if $rounds_done (i32.ge_s (local.get $round) (local.get $rounds)))
        (local.set $head (ref.null $dnode))
        (local.set $i (i32.const 0))
        (block $built
          (loop $build
            (br_if $built (i32.ge_s (local.get $i) (local.get $length)))
            (local.set $node
              (struct.new $dnode
                (i64.extend_i32_s (i32.add (local.get $i) (local.get $round)))
                (ref.null $dnode)
                (local.get $head)))
            (if (i32.eqz (ref.is_null (local.get $head)))
              (then (struct.set $dnode $prev (ref.as_non_null (local.get $head))
                                             (local.get $node))))
            (local.set $head (local.get $node))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $build)))
        (local.set $node (local.get $head))
        (local.set $tail (ref.null $dnode))
        (block $walked
          (loop $forward
            (br_if $walked (ref.is_null (local.get $node)))
            (local.set $sum
              (i64.add (local.get $sum) (struct.get $dnode $dvalue (local.get $node))))
            (local.set $tail (local.get $node))
            (local.set $node (struct.get $dnode $dnext (local.get $node)))
            (br $forward)))
        (block $back_done
          (loop $back
            (br_if $back_done (ref.is_null (local.get $tail)))
            (local.set $sum (i64.add (local.get $sum) (i64.const 1)))
            (local.set $tail (struct.get $dnode $prev (local.get $tail)))
            (br $back)))
        (local.set $head (ref.null $dnode))
        (local.set $node (ref.null $dnode))
        (local.set $round (i32.add (local.get $round) (i32.const 1)))
        (br $round_loop)))
    (local.get $sum))
)
