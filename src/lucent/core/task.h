// The kind of prediction a model makes; shared by data, train, metrics and infer.
//  binary      one label column, classes {0, 1}
//  multiclass  one label column, classes 0..K-1
//  ordinal     as multiclass, classes ordered (graded disease)
//  multilabel  K label columns, each 0/1
#pragma once

#include <string>

#include "lucent/core/error.h"

namespace lucent {

enum class Task { kBinary, kMulticlass, kOrdinal, kMultilabel };
[[nodiscard]] Result<Task> parse_task(const std::string& name);
[[nodiscard]] std::string task_name(Task task);

}  // namespace lucent
