# The two commands of the README:
#   make demo   installs dependencies, builds (Release) and runs Lucent's main job
#   make test   installs dependencies, builds and runs every test
BUILD ?= build
JOBS ?= $(shell nproc)
LUCENT_DATA ?= $(abspath ../shared/data)
export LUCENT_DATA

.PHONY: setup build demo survey test unit integration bench bench-train fuzz clean

setup:
	bash scripts/setup.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: setup $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# Main job: train the shipped PneumoniaMNIST recipe on the CPU, test the selected checkpoint on
# the official test split and print it beside the MedMNIST v2 table (a few minutes).
demo: build
	rm -rf out/demo
	./$(BUILD)/lucent train configs/medmnist/pneumoniamnist.yaml --out out/demo

# Read every image under the data folder and report what Lucent makes of it.
survey: build
	./$(BUILD)/lucent survey "$(LUCENT_DATA)" --out out/survey

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 1200

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

integration: build
	cd $(BUILD) && ctest --output-on-failure -L integration

bench: build
	bash scripts/setup.sh --bench
	bash bench/run_load_bench.sh

# Training and inference speed against the PyTorch peer (bench/train_peer/pytorch_peer.py).
bench-train: build
	bash scripts/setup.sh --bench
	BUILD=$(BUILD) bash bench/run_train_bench.sh

fuzz:
	bash tests/fuzz/run_fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD)
