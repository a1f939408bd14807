/* Pieces shared by the command-line tools (not part of the library), one header per concern:
 *   common/msg.h       messages, exit statuses, progress lines
 *   common/text.h      strict UTF-8, number arguments, heap strings, growable arrays
 *   common/files.h     whole-file reads, all-or-nothing outputs, output checks
 *   common/hash.h      content hashes
 *   common/classes.h   class lists and their formats
 *   common/cache.h     the class-embedding cache
 *   common/geometry.h  the resize/crop geometry of ground truth
 *   common/render.h    colours, legends, overlays
 *   common/options.h   the options and session of the model-running tools */
#ifndef CT_TOOLS_COMMON_H
#define CT_TOOLS_COMMON_H

#include "cliptrase.h"
#include "common/cache.h"
#include "common/classes.h"
#include "common/files.h"
#include "common/geometry.h"
#include "common/hash.h"
#include "common/limits.h"
#include "common/msg.h"
#include "common/options.h"
#include "common/render.h"
#include "common/text.h"

#endif
