/* binary-trees in plain C, the floor the drc drivers are measured against.
 *
 * Two allocators for the same algorithm as drc/bench/workloads.py:
 *   malloc  one malloc per node, one free per node when the tree dies;
 *   arena   nodes bumped out of one block that is reset when the tree dies, the
 *           practical floor for a tree that is freed all at once.
 * Usage: binary_trees malloc|arena DEPTH. Prints one JSON object: the seconds spent in the
 * workload, the checksum (nodes counted by the checks), the nodes allocated and, on Linux, the
 * peak resident set (VmHWM; getrusage would start from the parent's size at fork time).
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct node {
    struct node *left;
    struct node *right;
} node;

static int use_arena;
static uint64_t allocated;

/* A bump allocator; freeing a whole tree is resetting `used`. */
typedef struct {
    node *base;
    size_t used;
    size_t capacity;
} arena;

static node *new_node(arena *a, node *left, node *right)
{
    node *n;
    if (use_arena) {
        if (a->used == a->capacity) {
            fprintf(stderr, "arena exhausted\n");
            exit(2);
        }
        n = &a->base[a->used++];
    } else {
        n = malloc(sizeof(node));
        if (n == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
    }
    n->left = left;
    n->right = right;
    allocated++;
    return n;
}

static node *bottom_up_tree(arena *a, int depth)
{
    if (depth > 0) {
        node *left = bottom_up_tree(a, depth - 1);
        node *right = bottom_up_tree(a, depth - 1);
        return new_node(a, left, right);
    }
    return new_node(a, NULL, NULL);
}

static int64_t check(const node *tree)
{
    if (tree->left == NULL)
        return 1;
    return 1 + check(tree->left) + check(tree->right);
}

static void free_tree(arena *a, node *tree)
{
    if (use_arena) {
        a->used = 0;
        return;
    }
    if (tree->left != NULL) {
        free_tree(a, tree->left);
        free_tree(a, tree->right);
    }
    free(tree);
}

static void arena_init(arena *a, int depth)
{
    a->used = 0;
    a->capacity = use_arena ? ((size_t)2 << depth) : 0;
    a->base = NULL;
    if (use_arena) {
        a->base = malloc(a->capacity * sizeof(node));
        if (a->base == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
    }
}

/* VmHWM in bytes, or -1 where /proc/self/status does not exist. */
static long long peak_rss(void)
{
    char line[256];
    long long kib = -1;
    FILE *status = fopen("/proc/self/status", "r");
    if (status == NULL)
        return -1;
    while (fgets(line, sizeof line, status) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = atoll(line + 6);
            break;
        }
    }
    fclose(status);
    return kib < 0 ? -1 : kib * 1024;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "malloc") != 0 && strcmp(argv[1], "arena") != 0)) {
        fprintf(stderr, "usage: %s malloc|arena DEPTH\n", argv[0]);
        return 2;
    }
    use_arena = strcmp(argv[1], "arena") == 0;
    int n = atoi(argv[2]);
    int min_depth = 4;
    int max_depth = n > min_depth + 2 ? n : min_depth + 2;
    arena scratch, long_lived_arena;
    /* Set up outside the timed region, like the other peers' module instantiation. */
    arena_init(&scratch, max_depth + 1);
    arena_init(&long_lived_arena, max_depth);

    struct timespec start, stop;
    clock_gettime(CLOCK_MONOTONIC, &start);
    node *stretch = bottom_up_tree(&scratch, max_depth + 1);
    int64_t sum = check(stretch);
    free_tree(&scratch, stretch);
    node *long_lived = bottom_up_tree(&long_lived_arena, max_depth);
    for (int depth = min_depth; depth <= max_depth; depth += 2) {
        int iterations = 1 << (max_depth - depth + min_depth);
        for (int i = 0; i < iterations; i++) {
            node *tree = bottom_up_tree(&scratch, depth);
            sum += check(tree);
            free_tree(&scratch, tree);
        }
    }
    sum += check(long_lived);
    free_tree(&long_lived_arena, long_lived);
    clock_gettime(CLOCK_MONOTONIC, &stop);

    double seconds = (double)(stop.tv_sec - start.tv_sec) + (stop.tv_nsec - start.tv_nsec) * 1e-9;
    long long rss = peak_rss();
    printf("{\"seconds\": %.9f, \"checksum\": %lld, \"objects\": %llu", seconds,
           (long long)sum, (unsigned long long)allocated);
    if (rss >= 0)
        printf(", \"peak_rss_bytes\": %lld", rss);
    printf("}\n");
    free(scratch.base);
    free(long_lived_arena.base);
    return 0;
}
