/* hub-private.h — internal: the huggingface_hub cache layout shared by the downloader (hub.c) and
 * the cache readers (hub-cache.c). */
#pragma once

#include "clip.h"

/* CACHE_DIR/models--ORG--NAME.  Free with g_free. */
char *clip_hub_repo_dir (const char *cache_dir, const char *repo_id);

/* TRUE when $HF_HUB_OFFLINE asks for offline mode ("1", "true", "yes", "on"). */
gboolean clip_hub_env_offline (void);

/* TRUE for a full 40-digit lower-case hexadecimal commit id. */
gboolean clip_hub_is_commit (const char *revision);

/* TRUE when NAME is safe as one path component inside the cache (a blob's ETag, a ref, a commit):
 * not empty, no '/', not "." or "..", no NUL or control character. */
gboolean clip_hub_is_safe_name (const char *name);

/* TRUE when REVISION is safe as refs/REVISION, which may have folders ("refs/pr/1"): each part is a
 * safe name. */
gboolean clip_hub_is_safe_revision (const char *revision);

/* Writes TEXT to PATH atomically (a temporary file renamed over it); errors name PATH. */
gboolean clip_hub_write_text (const char *path, const char *text, GError **error);

/* The token to send when the caller gives none: $HF_TOKEN, else the token file (clip_hub_token_path),
 * as huggingface_hub reads them (surrounding white space stripped); *TOKEN is NULL when there is none
 * (no file is no token) and *SOURCE names where it was looked for last ("HF_TOKEN" or the file).
 * FALSE for a token file that cannot be read or a token with control characters.  Free both. */
gboolean clip_hub_read_token (char **token, char **source, GError **error);
