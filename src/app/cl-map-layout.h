/* cl-map-layout.h — the Map view's layout of a folder's images, computed on the model worker from
 * the folder's index (clip_map_compute, clip_map_cluster, clip_cluster_names) and cached beside the
 * index file.
 *
 * The cache is keyed by the index file (its folder and model), the seed, the naming vocabulary and
 * every mapped image's path and content hash: a file added, removed or changed, another model or
 * another seed computes the map again, and the same inputs read it back instead.  It is written
 * with clip_file_replace, so a crash leaves the old cache or the new one. */
#pragma once

#include "cl-search-index.h"

G_BEGIN_DECLS

typedef struct {
  guint n;                   /* points: the requested paths that are indexed, in request order */
  guint *rows;               /* [n] each point's position in the request's paths */
  float *xy;                 /* [n × 2] map coordinates */
  int *cluster;              /* [n] cluster id, -1 for none */
  guint n_clusters;
  char **names;              /* [n_clusters], NULL-terminated: each cluster's name */
  gboolean from_cache;       /* read back rather than computed */
} ClMapLayout;

void cl_map_layout_free (ClMapLayout *layout);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClMapLayout, cl_map_layout_free)

/* Runs on the main thread, at most every 100 ms: WHAT is the stage ("Neighbours", "Layout"), FRACTION
 * its share done. */
typedef void (*ClMapProgressFunc) (const char *what, double fraction, gpointer user_data);

/* The map of the images at PATHS (absolute, N of them) that INDEX holds, clusters named after
 * VOCABULARY (NULL-terminated; NULL: the library's built-in nouns).  With CACHE_ONLY, only the
 * cache is read: the result is NULL (without an error) when it does not hold this map.  Fails
 * with fewer than 3 indexed images. */
void         cl_map_layout_compute_async (ClSearchIndex *index, const char *const *paths, guint n,
                                          const char *const *vocabulary, guint64 seed, gboolean cache_only,
                                          ClMapProgressFunc progress, gpointer progress_data,
                                          GDestroyNotify progress_destroy, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
ClMapLayout *cl_map_layout_compute_finish (ClSearchIndex *index, GAsyncResult *result, GError **error);

G_END_DECLS
