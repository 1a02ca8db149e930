/* fakehub.h — a local server that behaves like the Hugging Face hub, for tests (127.0.0.1 only).
 *
 * It answers the API (/api/models/REPO/revision/REV: commit and file list), the resolve URLs
 * (/REPO/resolve/REV/FILE: ETag and X-Repo-Commit; LFS files redirect with X-Linked-Etag and
 * X-Linked-Size to /storage/REPO/SHA256 on a second port, the "storage host") and the storage bytes
 * with Range, and can cut a connection half-way, announce a wrong hash, or ask for a token. */
#pragma once

#include <glib.h>

typedef struct _FakeHub FakeHub;

/* Listens on 127.0.0.1 (any free port) and serves from a thread of its own. */
FakeHub    *fake_hub_start (void);
void        fake_hub_stop (FakeHub *hub);
const char *fake_hub_url (FakeHub *hub);   /* http://127.0.0.1:PORT */

/* A repository whose "main" is COMMIT (40 hex digits); with TOKEN, every request for it needs
 * "Authorization: Bearer TOKEN" (a gated model). */
void fake_hub_add_repo (FakeHub *hub, const char *repo, const char *commit, const char *token);
/* TAG (a branch or tag) names REPO's commit too. */
void fake_hub_add_tag (FakeHub *hub, const char *repo, const char *tag);

typedef enum {
  FAKE_FILE_LFS        = 1 << 0,  /* kept in LFS: resolve redirects to the storage path */
  FAKE_FILE_WRONG_HASH = 1 << 1,  /* its announced SHA-256 is not that of its bytes */
  FAKE_FILE_SLOW       = 1 << 2,  /* storage bytes paced at about 0.8 MB/s (the server answers nothing else meanwhile) */
} FakeFileFlags;

/* Adds FILE to REPO with CONTENT; CUTS storage GETs of it are cut after half the bytes they answer. */
void fake_hub_add_file (FakeHub *hub, const char *repo, const char *file, GBytes *content, FakeFileFlags flags,
                        int cuts);
/* The same with the contents of the file at PATH. */
void fake_hub_add_file_from (FakeHub *hub, const char *repo, const char *file, const char *path,
                             FakeFileFlags flags);

/* The ETag the hub announces for FILE of REPO (SHA-256 for LFS files, else git's blob SHA-1). */
const char *fake_hub_etag (FakeHub *hub, const char *repo, const char *file);

/* One line per request so far: "METHOD PATH[ range=bytes=N-][ auth][ sent=BYTES]" (sent: body bytes of
 * a storage GET).  Free with g_strfreev. */
char **fake_hub_requests (FakeHub *hub);
void   fake_hub_clear_requests (FakeHub *hub);
