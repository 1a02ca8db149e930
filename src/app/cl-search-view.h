/* cl-search-view.h — the Search view: text queries with + and − terms ("dog beach -people"), or
 * "find similar" from an image, ranked over the index of the open folder and the photo folders
 * (GSettings "library-folders"; searchable while it is being built, with progress and Stop): an
 * endless ranked list (the next page comes as the user scrolls towards its end), scores on the
 * thumbnails, the image searched with left out.  The folders are watched: a photo added, changed,
 * removed or renamed is reflected in the index and the results within seconds. */
#pragma once

#include <gtk/gtk.h>

#include "cl-session.h"

G_BEGIN_DECLS

#define CL_TYPE_SEARCH_VIEW (cl_search_view_get_type ())
G_DECLARE_FINAL_TYPE (ClSearchView, cl_search_view, CL, SEARCH_VIEW, GtkWidget)

GtkWidget *cl_search_view_new (ClSession *session);

/* Focuses the search entry, its text selected (Ctrl+F). */
void cl_search_view_focus_entry (ClSearchView *self);
/* Searches for the images most like the image at PATH (the "Find Similar" action). */
void cl_search_view_find_similar (ClSearchView *self, const char *path);
/* Brings the index of the open folder up to date (starts by itself when the view is shown). */
void cl_search_view_update_index (ClSearchView *self);
/* Stops an index update; what is indexed so far stays searchable. */
void cl_search_view_stop_index (ClSearchView *self);
/* Adds FOLDER to the photo folders (remembered) / removes it. */
void cl_search_view_add_folder (ClSearchView *self, const char *folder);
void cl_search_view_remove_folder (ClSearchView *self, const char *folder);

/* Actions (the buttons): "search.update-index" (cl_search_view_update_index; "Continue
 * Indexing"), "search.stop-index" (cl_search_view_stop_index), each enabled only when it can run;
 * "search.choose-folder" (asks for a folder to add), "search.add-folder" and
 * "search.remove-folder" (a folder's path, "s").
 *
 * Properties, read-only: "searching" (a search waits for the entry's delay, the model or the
 * worker), "indexing", "index-progress" (0..1, bound to its progress bar), "n-indexed"
 * (searchable images, -1 before known), "n-embedded" (images the last complete update embedded
 * anew, not found indexed), "has-more" (the results fill the pages fetched: scrolling
 * to their end fetches more) and "results" (the
 * GListModel of ClImageItems of the last search, best first; the score is the item's confidence;
 * shown on the "results" page of the template's "results_stack" only). */

G_END_DECLS
