# The README's commands. Each one sets up .venv on first use.
.PHONY: demo test ui bench clean

demo:  ## run the whole pipeline through Airflow on the shipped sample data
	scripts/demo.sh

test:  ## start PostgreSQL, run the test suite, stop PostgreSQL
	scripts/test.sh

ui:    ## start the Airflow web UI on http://127.0.0.1:8080 over the demo's data
	scripts/ui.sh

clean: ## forget the demo's Airflow home and warehouse
	rm -rf .airflow
