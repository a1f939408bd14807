/* The on-disk cache of the tools: class embeddings, and the content hashes of model files.
 *
 * Location: $CT_CACHE_DIR, else $XDG_CACHE_HOME/cliptrase, else $HOME/.cache/cliptrase. A
 * directory that cannot be created or written disables the cache with one warning, and so does
 * one that is not trusted (ssh's StrictModes: the directory the user's and writable by no one
 * else, each directory above it root's or the user's and writable by no one else unless sticky)
 * or an entry that is not (the user's, writable by no one else): the run goes on uncached. A
 * directory created here is 0700, entries 0644, whatever the umask.
 *
 * An embedding entry is keyed by everything that determines it: the model file's content hash,
 * the vocabulary files' content hash, the precision and backend the model was loaded with, the
 * embedding width, the templates and the name. The entry stores that key material (a file-name
 * collision cannot serve another name) and ends with a checksum of the whole entry: a damaged
 * entry is detected, recomputed and rewritten, never used.
 *
 * The content hash of a model (hundreds of MB) is computed once and remembered in an entry keyed
 * by the file's device, inode, size, and modification and change times in nanoseconds; it is
 * remembered only when both times are more than two seconds old when hashing ends and the file
 * did not change during the hash (a file rewritten within the timestamps' granularity is hashed
 * again, as git does with racy index entries).
 *
 * Entries are read without following symlinks, only when they are regular files (a FIFO cannot
 * block), and written through a temporary file (O_EXCL | O_NOFOLLOW, random name) renamed into
 * place; paths have no length limit but the system's. */
#ifndef CT_TOOLS_CACHE_H
#define CT_TOOLS_CACHE_H

#include "cliptrase.h"

#include <stdint.h>

typedef struct {
    char *dir;         /* NULL: caching is off */
    int warned_store;  /* a failed write was reported */
    int n_damaged;     /* damaged entries met (recomputed) */
} tool_cache;

/* disabled: no cache (--no-cache). Warns once when the directory cannot be used. */
void cache_open(tool_cache *c, int disabled);
void cache_close(tool_cache *c);
/* The directory the cache would use, on the heap (NULL without $HOME and the variables). */
char *cache_default_dir(void);

/* Content hash of a regular file, remembered in the cache when it is on. */
int file_content_hash(tool_cache *c, const char *path, uint64_t *h, ct_error *err);

/* What determines a class embedding, except the name. */
typedef struct {
    uint64_t model, vocab, templates;
    ct_precision precision;
    ct_backend backend;
    int embed_dim;
} emb_key;

/* 1: found and intact (out filled); 0: absent; -1: present but damaged (counted). */
int cache_get(tool_cache *c, const emb_key *k, const char *name, float *out);
/* Store one embedding; a failure warns once and disables further writes. */
void cache_put(tool_cache *c, const emb_key *k, const char *name, const float *emb);
/* The entry's path (for tests and messages), on the heap. */
char *cache_entry_path(const tool_cache *c, const emb_key *k, const char *name);

#endif
