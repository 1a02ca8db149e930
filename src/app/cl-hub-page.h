/* cl-hub-page.h — the model dialog's Get Models page: the catalogue of pretrained CLIP models on
 * Hugging Face with their sizes and uses, a field for any repository id, the models already in the
 * Hugging Face cache (downloaded by ClipLab, transformers or open_clip), and a download with progress
 * and cancel on a worker thread (clip_hub_download). */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define CL_TYPE_HUB_PAGE (cl_hub_page_get_type ())
G_DECLARE_FINAL_TYPE (ClHubPage, cl_hub_page, CL, HUB_PAGE, GtkWidget)

GtkWidget *cl_hub_page_new (void);

/* Properties (read-only): "downloading" (a download runs), "fraction" (0..1 of its bytes),
 * "status" (what it is doing, or how the last one ended), "error" (the last failure, or NULL),
 * "snapshot-dir" (the folder of the last model downloaded or chosen).
 *
 * Actions: "hub.download" (s: a repository id), "hub.download-entry" (the id typed in the field),
 * "hub.cancel" (stops the download; the partial file is kept and the next download resumes it),
 * "hub.use" (s: a snapshot folder in the cache).
 *
 * Signal "model-chosen" (const char *snapshot_dir): a download finished or a cached model was
 * chosen; the model dialog loads it. */

G_END_DECLS
