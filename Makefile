# The two commands of the README, plus helpers. Each target installs what it needs itself.
PY := .venv/bin/python
SCENARIO ?=

.PHONY: test lab lab-down bench bench-central bench-rolling bootstrap lint unit molecule dashboards docs
test:            ## lint, unit tests and every Molecule scenario
	python3 tools/run_tests.py
lab: bootstrap   ## start the lab containers and converge site.yml on them
	$(PY) tools/lab.py up
lab-down:        ## remove the lab containers
	python3 tools/lab.py down
bench: bootstrap ## speed of site.yml on fresh 5- and 10-host labs (reports/bench.json)
	$(PY) tools/bench.py
bench-central: bootstrap ## what the central VictoriaMetrics holds here (reports/bench-central.json)
	$(PY) tools/bench_central.py
bench-rolling: bootstrap ## scrape gap of the HA pair during a rolling upgrade (reports/bench-rolling.json)
	$(PY) tools/bench_rolling.py
dashboards:      ## regenerate files/grafana/dashboards from tools/dashboards.py
	$(PY) tools/dashboards.py
docs:            ## regenerate each role's README.md from meta/argument_specs.yml and docs/usage.md
	$(PY) tools/role_docs.py
bootstrap:       ## venv, Docker engine, artifact mirror, base images
	python3 tools/bootstrap.py
lint:
	python3 tools/run_tests.py --only lint
unit:
	python3 tools/run_tests.py --only unit
molecule:        ## make molecule SCENARIO=node_exporter/secure
	python3 tools/run_tests.py --only molecule $(if $(SCENARIO),--scenario $(SCENARIO))
