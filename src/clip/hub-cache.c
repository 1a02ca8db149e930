/* hub-cache.c — the huggingface_hub cache without the network: where it is, repository ids,
 * resolving a repository to its snapshot, listing the models in it, and the built-in catalogue. */
#include "hub-private.h"
#include "clip-private.h"
#include "util-file.h"
#include "util-json.h"

#include <errno.h>
#include <string.h>
#include <glib/gstdio.h>

/* huggingface_hub's limit on a repository id's length. */
#define HUB_MAX_REPO_ID 96
/* A model's config.json is a few kB; a larger one is not read to decide what the cache holds. */
#define HUB_MAX_CONFIG_BYTES (1 << 20)

static gboolean
is_repo_part (const char *part, size_t len)
{
  if (len == 0 || part[0] == '-' || part[0] == '.' || part[len - 1] == '-' || part[len - 1] == '.')
    return FALSE;
  for (size_t i = 0; i < len; i++)
    if (!g_ascii_isalnum (part[i]) && part[i] != '-' && part[i] != '_' && part[i] != '.')
      return FALSE;
  return TRUE;
}

gboolean
clip_hub_is_repo_id (const char *string)
{
  if (string == NULL || strlen (string) > HUB_MAX_REPO_ID
      || strstr (string, "--") != NULL || strstr (string, "..") != NULL)
    return FALSE;
  const char *slash = strchr (string, '/');
  if (slash == NULL || strchr (slash + 1, '/') != NULL)
    return FALSE;
  return is_repo_part (string, (size_t) (slash - string)) && is_repo_part (slash + 1, strlen (slash + 1));
}

gboolean
clip_hub_parse_model_ref (const char *string, char **repo_id, char **revision)
{
  const char *at = string != NULL ? strchr (string, '@') : NULL;
  g_autofree char *repo = at != NULL ? g_strndup (string, (size_t) (at - string)) : g_strdup (string);
  if (!clip_hub_is_repo_id (repo) || (at != NULL && !clip_hub_is_safe_revision (at + 1)))
    return FALSE;
  if (repo_id != NULL)
    *repo_id = g_steal_pointer (&repo);
  if (revision != NULL)
    *revision = at != NULL ? g_strdup (at + 1) : NULL;
  return TRUE;
}

/* huggingface_hub's HF_HOME: $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
static char *
hub_home (void)
{
  const char *home = g_getenv ("HF_HOME");
  if (home != NULL && *home != '\0')
    return g_strdup (home);
  return g_build_filename (g_get_user_cache_dir (), "huggingface", NULL);
}

char *
clip_hub_token_path (void)
{
  const char *path = g_getenv ("HF_TOKEN_PATH");
  if (path != NULL && *path != '\0')
    return g_strdup (path);
  g_autofree char *home = hub_home ();
  return g_build_filename (home, "token", NULL);
}

/* A token is one short line (hf_ and about 34 characters); a larger file is not a token. */
#define TOKEN_MAX_BYTES 4096

gboolean
clip_hub_read_token (char **token, char **source, GError **error)
{
  *token = NULL;
  const char *env = g_getenv ("HF_TOKEN");
  g_autofree char *contents = g_strstrip (g_strdup (env != NULL ? env : ""));
  g_autofree char *path = NULL;
  *source = g_strdup ("HF_TOKEN");
  /* An empty HF_TOKEN counts as unset, as for huggingface_hub: then the token file. */
  if (*contents == '\0')
    {
      g_clear_pointer (&contents, g_free);
      path = clip_hub_token_path ();
      g_free (*source);
      *source = g_strdup (path);
      size_t length;
      GError *local = NULL;
      if (!clip_file_read_contents (path, CLIP_INPUT_MISSING_CODE, TOKEN_MAX_BYTES, &contents, &length, &local))
        {
          /* No token file is no token. */
          gboolean missing = g_error_matches (local, CLIP_ERROR, CLIP_ERROR_MISSING);
          if (missing)
            g_error_free (local);
          else
            g_propagate_error (error, local);
          return missing;
        }
      g_strstrip (contents);
    }
  for (const char *p = contents; *p != '\0'; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      {
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: the token holds a line break or another control "
                     "character", *source);
        return FALSE;
      }
  if (*contents != '\0')
    *token = g_steal_pointer (&contents);
  return TRUE;
}

char *
clip_hub_cache_dir (const char *cache_dir)
{
  if (cache_dir != NULL)
    return g_strdup (cache_dir);
  const char *hub_cache = g_getenv ("HF_HUB_CACHE");
  if (hub_cache != NULL && *hub_cache != '\0')
    return g_strdup (hub_cache);
  /* huggingface_hub honours XDG_CACHE_HOME for its default, as g_get_user_cache_dir does. */
  g_autofree char *home = hub_home ();
  return g_build_filename (home, "hub", NULL);
}

char *
clip_hub_repo_dir (const char *cache_dir, const char *repo_id)
{
  g_auto (GStrv) parts = g_strsplit (repo_id, "/", -1);
  g_autofree char *joined = g_strjoinv ("--", parts);
  g_autofree char *folder = g_strconcat ("models--", joined, NULL);
  return g_build_filename (cache_dir, folder, NULL);
}

gboolean
clip_hub_env_offline (void)
{
  const char *value = g_getenv ("HF_HUB_OFFLINE");
  if (value == NULL)
    return FALSE;
  const char *yes[] = { "1", "true", "yes", "on" };
  for (size_t i = 0; i < G_N_ELEMENTS (yes); i++)
    if (g_ascii_strcasecmp (value, yes[i]) == 0)
      return TRUE;
  return FALSE;
}

gboolean
clip_hub_is_commit (const char *revision)
{
  if (revision == NULL || strlen (revision) != 40)
    return FALSE;
  for (int i = 0; i < 40; i++)
    if (!g_ascii_isdigit (revision[i]) && !(revision[i] >= 'a' && revision[i] <= 'f'))
      return FALSE;
  return TRUE;
}

gboolean
clip_hub_is_safe_name (const char *name)
{
  if (name == NULL || *name == '\0' || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (*p == '/' || (unsigned char) *p < 0x20)
      return FALSE;
  return TRUE;
}

gboolean
clip_hub_is_safe_revision (const char *revision)
{
  if (*revision == '\0')
    return FALSE;
  g_auto (GStrv) parts = g_strsplit (revision, "/", -1);
  for (char **p = parts; *p != NULL; p++)
    if (!clip_hub_is_safe_name (*p))
      return FALSE;
  return TRUE;
}

static gboolean
write_text_func (int fd, const char *path, gpointer user_data, GError **error)
{
  const char *text = user_data;
  return clip_file_write_all (fd, text, strlen (text), path, error);
}

gboolean
clip_hub_write_text (const char *path, const char *text, GError **error)
{
  return clip_file_replace (path, 0, write_text_func, (gpointer) text, error);
}

/* ---------------------------------------------------------------- resolving */

/* A ref file holds one commit id (40 hex digits) and a newline. */
#define REF_MAX_BYTES 4096

static char *
read_ref (const char *repo_dir, const char *repo_id, const char *revision, GError **error)
{
  g_autofree char *ref_path = g_build_filename (repo_dir, "refs", revision, NULL);
  g_autofree char *contents = NULL;
  size_t length;
  GError *local = NULL;
  if (!clip_file_read_contents (ref_path, CLIP_INPUT_MISSING_CODE, REF_MAX_BYTES, &contents, &length, &local))
    {
      if (g_error_matches (local, CLIP_ERROR, CLIP_ERROR_MISSING))
        {
          g_clear_error (&local);
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING,
                       "%s: revision \"%s\" is not in the Hugging Face cache (%s is missing)", repo_id, revision,
                       ref_path);
        }
      else
        g_propagate_error (error, local);
      return NULL;
    }
  g_strstrip (contents);
  if (!clip_hub_is_commit (contents))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: does not hold a commit id", ref_path);
      return NULL;
    }
  return g_steal_pointer (&contents);
}

char *
clip_hub_resolve (const char *repo_id, const char *revision, const char *cache_dir, GError **error)
{
  g_return_val_if_fail (repo_id != NULL, NULL);
  if (revision == NULL)
    revision = "main";
  if (!clip_hub_is_repo_id (repo_id) || !clip_hub_is_safe_revision (revision))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "\"%s\" at \"%s\" is not a Hugging Face model id "
                   "and revision (expected ORG/NAME)", repo_id, revision);
      return NULL;
    }
  g_autofree char *cache = clip_hub_cache_dir (cache_dir);
  g_autofree char *repo_dir = clip_hub_repo_dir (cache, repo_id);
  if (!g_file_test (repo_dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING,
                   "%s: neither a file nor a model in the Hugging Face cache %s: download it first "
                   "(cliplab-cli model download %s)", repo_id, cache, repo_id);
      return NULL;
    }
  g_autofree char *commit = NULL;
  g_autofree char *commit_dir = clip_hub_is_commit (revision)
                                  ? g_build_filename (repo_dir, "snapshots", revision, NULL) : NULL;
  if (commit_dir != NULL && g_file_test (commit_dir, G_FILE_TEST_IS_DIR))
    commit = g_strdup (revision);
  else if ((commit = read_ref (repo_dir, repo_id, revision, error)) == NULL)
    return NULL;

  char *snapshot = g_build_filename (repo_dir, "snapshots", commit, NULL);
  if (!clip_model_dir_files (snapshot, NULL, NULL, NULL))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING,
                   "%s: the cached snapshot %s holds no model ClipLab loads (config.json + model.safetensors, "
                   "or open_clip_config.json + safetensors weights): download it again", repo_id, snapshot);
      g_free (snapshot);
      return NULL;
    }
  return snapshot;
}

/* ---------------------------------------------------------------- listing */

void
clip_hub_cached_model_free (ClipHubCachedModel *model)
{
  if (model == NULL)
    return;
  g_free (model->repo_id);
  g_free (model->commit);
  g_free (model->refs);
  g_free (model->snapshot_dir);
  g_free (model);
}

/* COMMIT → "ref1,ref2" for every file under DIR (refs may have folders: "pr/1"). */
static void
collect_refs (const char *dir, const char *prefix, GHashTable *by_commit)
{
  g_autoptr (GDir) listing = g_dir_open (dir, 0, NULL);
  const char *name;
  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *ref = prefix != NULL ? g_strconcat (prefix, "/", name, NULL) : g_strdup (name);
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          collect_refs (path, ref, by_commit);
          continue;
        }
      g_autofree char *commit = NULL;
      size_t length;
      if (!clip_file_read_contents (path, CLIP_INPUT_DEFAULT, REF_MAX_BYTES, &commit, &length, NULL))
        continue;
      g_strstrip (commit);
      const char *known = g_hash_table_lookup (by_commit, commit);
      char *refs = known != NULL ? g_strconcat (known, ",", ref, NULL) : g_strdup (ref);
      g_hash_table_replace (by_commit, g_steal_pointer (&commit), refs);
    }
}

static int64_t
snapshot_size (const char *snapshot_dir)
{
  int64_t size = 0;
  g_autoptr (GDir) listing = g_dir_open (snapshot_dir, 0, NULL);
  const char *name;
  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = g_build_filename (snapshot_dir, name, NULL);
      GStatBuf st;
      if (g_stat (path, &st) == 0 && S_ISREG (st.st_mode))
        size += st.st_size;
    }
  return size;
}

/* Whether a Hugging Face config.json describes a CLIP model ("model_type": "clip"): a cache shared
 * with transformers holds many other models with the same file names. */
static gboolean
config_is_clip (const char *config_path)
{
  g_autoptr (JsonNode) root = clip_json_parse_file (config_path, HUB_MAX_CONFIG_BYTES, NULL);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return FALSE;
  JsonObject *config = json_node_get_object (root);
  JsonNode *type = json_object_get_member (config, "model_type");
  return type != NULL && JSON_NODE_HOLDS_VALUE (type) && json_node_get_value_type (type) == G_TYPE_STRING
         && g_str_equal (json_node_get_string (type), "clip");
}

static void
list_repo (const char *repo_dir, const char *repo_id, GPtrArray *models)
{
  g_autoptr (GHashTable) refs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autofree char *refs_dir = g_build_filename (repo_dir, "refs", NULL);
  collect_refs (refs_dir, NULL, refs);

  g_autofree char *snapshots_dir = g_build_filename (repo_dir, "snapshots", NULL);
  g_autoptr (GDir) listing = g_dir_open (snapshots_dir, 0, NULL);
  const char *commit;
  while (listing != NULL && (commit = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *snapshot = g_build_filename (snapshots_dir, commit, NULL);
      ClipLayout layout;
      g_autofree char *config = NULL;
      if (!clip_model_dir_files (snapshot, &layout, &config, NULL)
          || (layout == CLIP_LAYOUT_HF_DIR && !config_is_clip (config)))
        continue;
      ClipHubCachedModel *model = g_new0 (ClipHubCachedModel, 1);
      model->repo_id = g_strdup (repo_id);
      model->commit = g_strdup (commit);
      model->refs = g_strdup (g_hash_table_lookup (refs, commit));
      model->snapshot_dir = g_steal_pointer (&snapshot);
      model->size = snapshot_size (model->snapshot_dir);
      model->layout = layout;
      g_ptr_array_add (models, model);
    }
}

static int
compare_cached (gconstpointer a, gconstpointer b)
{
  const ClipHubCachedModel *x = *(ClipHubCachedModel *const *) a, *y = *(ClipHubCachedModel *const *) b;
  int by_repo = strcmp (x->repo_id, y->repo_id);
  return by_repo != 0 ? by_repo : strcmp (x->commit, y->commit);
}

GPtrArray *
clip_hub_list_cached (const char *cache_dir, GError **error)
{
  g_autofree char *cache = clip_hub_cache_dir (cache_dir);
  GPtrArray *models = g_ptr_array_new_with_free_func ((GDestroyNotify) clip_hub_cached_model_free);
  GError *local_error = NULL;
  g_autoptr (GDir) listing = g_dir_open (cache, 0, &local_error);
  if (listing == NULL)
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        {
          g_error_free (local_error);
          return models;
        }
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot list the Hugging Face cache: %s", cache,
                   local_error->message);
      g_error_free (local_error);
      g_ptr_array_unref (models);
      return NULL;
    }
  const char *name;
  while ((name = g_dir_read_name (listing)) != NULL)
    {
      if (!g_str_has_prefix (name, "models--"))
        continue;
      g_auto (GStrv) parts = g_strsplit (name + strlen ("models--"), "--", -1);
      g_autofree char *repo_id = g_strjoinv ("/", parts);
      g_autofree char *repo_dir = g_build_filename (cache, name, NULL);
      list_repo (repo_dir, repo_id, models);
    }
  g_ptr_array_sort (models, compare_cached);
  return models;
}

/* ---------------------------------------------------------------- catalogue */

/* Marked for xgettext only: the application shows the descriptions translated (po/POTFILES.in). */
#define N_(text) (text)

/* Sizes are the F32 safetensors weights (4 bytes per parameter) plus config and tokenizer files;
 * ImageNet zero-shot figures are open_clip's published results for these weights. */
static const ClipHubCatalogEntry catalog[] = {
  { "openai/clip-vit-base-patch32", "ViT-B/32", 607000000,
    N_("OpenAI's original CLIP and the fastest here: general photo search and zero-shot labels on the CPU "
       "(63.3 percent ImageNet zero-shot); the usual first choice.") },
  { "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "ViT-B/32", 607000000,
    N_("The same size and speed as OpenAI's B/32, trained on LAION-2B: more accurate (66.6 percent ImageNet "
       "zero-shot) and knows more of the web's vocabulary.") },
  { "openai/clip-vit-base-patch16", "ViT-B/16", 600000000,
    N_("Finer 16-pixel patches: better on small objects and details (68.3 percent ImageNet zero-shot), about "
       "4 times slower per image than B/32.") },
  { "openai/clip-vit-large-patch14", "ViT-L/14", 1712000000,
    N_("The most accurate here (75.5 percent ImageNet zero-shot), for when quality matters more than time: "
       "about 18 times slower per image than B/32 and 2 GB of memory.") },
};

const ClipHubCatalogEntry *
clip_hub_catalog (int *n_entries)
{
  if (n_entries != NULL)
    *n_entries = G_N_ELEMENTS (catalog);
  return catalog;
}
