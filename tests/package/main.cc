// A consumer of an installed wfstore: builds a workflow with the public model,
// validates it, and checks a helper, through find_package(wfstore) and
// wfstore::wfstore alone.

#include <cstdlib>
#include <iostream>

#include "wfstore/errors.h"
#include "wfstore/model.h"

int main() {
  wfstore::Workflow wf;
  wf.id = "01JCONSUMER000000000000001";
  wf.application = "consumer";
  wfstore::StageExecution stage;
  stage.id = "01JCONSUMERSTAGE0000000001";
  stage.execution_id = wf.id;
  stage.ref_id = "build";
  wf.stages.push_back(stage);
  wfstore::validate_workflow(wf);
  try {
    wfstore::validate_key("", "workflow id");
    return EXIT_FAILURE;
  } catch (const wfstore::InvalidArgumentError& e) {
    std::cout << "rejected as expected: " << e.what() << "\n";
  }
  std::cout << "status name: " << wfstore::status_name(wf.status) << "\n";
  return wfstore::status_name(wf.status) == "NOT_STARTED" ? EXIT_SUCCESS
                                                          : EXIT_FAILURE;
}
