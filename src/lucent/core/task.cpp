#include "lucent/core/task.h"

namespace lucent {

Result<Task> parse_task(const std::string& name) {
  if (name == "binary") return Task::kBinary;
  if (name == "multiclass" || name == "multi-class") return Task::kMulticlass;
  if (name == "ordinal" || name == "ordinal-regression") return Task::kOrdinal;
  if (name == "multilabel" || name == "multi-label") return Task::kMultilabel;
  return fail(ErrorCode::kInvalidArgument,
              "unknown task '" + name + "'; expected binary, multiclass, ordinal or multilabel");
}

std::string task_name(Task task) {
  switch (task) {
    case Task::kBinary: return "binary";
    case Task::kMulticlass: return "multiclass";
    case Task::kOrdinal: return "ordinal";
    case Task::kMultilabel: return "multilabel";
  }
  return "?";
}

}  // namespace lucent
