"""The Images and Services pages in a real headless Chromium against a real `berth up`
(sign-in required, real containers; the fixtures of tests/test_ui_browser.py):

- an image template uploaded on the Images page (its progress bar, then a spinner) becomes
  ready, and its build log is shown; loading an image by name offline shows the API's
  502 naming the registry next to the field;
- a service scaled from its page gains an instance, with its role;
- a code version uploaded and set active on a service's page, then Run: every instance's
  `run` status light goes to exited, its exit code on hover;
- a Jisto job made on the Jobs page from an image and a job source runs with Run to
  Finished, 100%;
- axe-core finds no serious or critical violation on these pages; screenshots saved.
"""

from __future__ import annotations

import io
import tarfile

import pytest

from tests import test_ui_browser as base
from tests.image_templates import config, template
from tests.test_jisto_source import config as job_source
from tests.test_ui_browser import go, ready
from tests.ui_browser import screenshot, serious_violations, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.docker]
cluster = base.cluster  # a `berth up` with a user, for this module
driver = base.driver  # its headless Chromium


def checked(driver, name: str) -> None:
    print(f"screenshot: {screenshot(driver, name)}")
    assert serious_violations(driver) == [], name


def test_an_image_template_uploaded_on_the_images_page_becomes_ready(driver, cluster, tmp_path):
    archive = tmp_path / "ui-image.tar.gz"
    archive.write_bytes(template(config("ui-image")))
    go(driver, cluster, "images")
    form = driver.find_element("id", "upload")
    form.find_element("name", "file").send_keys(str(archive))
    form.find_element("css selector", "button[type=submit]").click()
    row = '[data-image="ui-image:latest"]'
    wait_for(lambda: driver.find_element("css selector", row), "the image listed")
    assert driver.find_element("id", "upload-progress").get_attribute("value") == "100"
    wait_for(lambda: driver.find_element("css selector", f'{row}[data-state="ready"]'),
             "the image ready (from the event stream)", timeout=120)
    driver.find_element("css selector", f"{row} button.secondary").click()
    wait_for(lambda: "building in /app" in driver.find_element("id", "image-log").text,
             "the build log")
    pull = driver.find_element("id", "pull")
    pull.find_element("name", "name").send_keys("hello-world:latest")
    pull.find_element("css selector", "button[type=submit]").click()
    error = wait_for(lambda: pull.find_element(
        "css selector", '[data-field="imageName"] .field-error'), "the pull's error", 90)
    assert "registry" in pull.find_element("css selector", ".form-message").text + error.text
    checked(driver, "images")


def _service(cluster, name: str, count: int) -> None:
    status, doc = cluster.api("POST", "/v1/jobs", {
        "name": name, "type": "service", "count": count,
        "task": {"dockerimage": "berth/busybox", "cpus": 0.05, "mem": 16, "nodetype": "lab",
                 "arguments": ["sleep", "3600"]}})
    assert status == 201, doc


def _running(driver) -> int:
    return len(driver.find_elements("css selector", '#view tr[data-instance][data-state="RUNNING"]'))


def test_a_service_scaled_from_its_page_gains_an_instance(driver, cluster):
    _service(cluster, "ui-svc", 1)
    go(driver, cluster, "services")
    driver.find_element("link text", "ui-svc").click()
    ready(driver, "service")
    wait_for(lambda: _running(driver) == 1, "the first instance running", 60)
    driver.find_element("id", "add-instance").click()
    wait_for(lambda: _running(driver) == 2, "a second instance running", 60)
    roles = [r.text for r in driver.find_elements("css selector", "#view tr[data-instance] td:nth-child(2)")]
    assert sorted(roles) == ["master", "node"]
    checked(driver, "service")
    cluster.api("DELETE", "/v1/jobs/ui-svc")


def test_a_generic_run_from_its_page_lights_up_exited(driver, cluster, tmp_path):
    _service(cluster, "ui-gen", 2)
    code = io.BytesIO()
    with tarfile.open(fileobj=code, mode="w:gz") as tar:
        for name, text in {"init.sh": "echo init", "run.sh": 'echo "run $1"; exit 3'}.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    archive = tmp_path / "code.tar.gz"
    archive.write_bytes(code.getvalue())
    go(driver, cluster, "services")
    driver.find_element("link text", "ui-gen").click()
    ready(driver, "service")
    wait_for(lambda: _running(driver) == 2, "both instances running", 60)
    upload = driver.find_element("id", "code-upload")
    upload.find_element("name", "file").send_keys(str(archive))
    upload.find_element("css selector", "button[type=submit]").click()
    wait_for(lambda: driver.find_element("css selector", "tr[data-version] button"),
             "the version listed").click()  # Set active
    lights = 'tr[data-instance] .light[data-script="{}"][data-state="exited"]'
    wait_for(lambda: len(driver.find_elements("css selector", lights.format("init"))) == 2,
             "init.sh exited everywhere", 60)
    assert driver.find_element("css selector", 'tr[data-instance] .light[data-script="run"]'
                               ).get_attribute("data-state") == "never run"
    driver.find_element("id", "script-parameters").send_keys("alpha")
    driver.find_element("id", "script-run").click()
    wait_for(lambda: len(driver.find_elements("css selector", lights.format("run"))) == 2,
             "run.sh's light going to exited", 60)
    light = driver.find_element("css selector", lights.format("run"))
    assert light.get_attribute("title") == "run.sh: exit code 3"
    checked(driver, "service-scripts")
    cluster.api("DELETE", "/v1/jobs/ui-gen")


def test_a_jisto_job_from_a_job_source_runs_from_the_jobs_page(driver, cluster, tmp_path):
    archive = tmp_path / "job.tar.gz"
    archive.write_bytes(job_source({"iterations": "2", "jobName": "ui-jisto"}))
    go(driver, cluster, "jobs")
    driver.execute_script("window.confirm = () => true")  # Run asks first
    form = driver.find_element("id", "new-jisto-job")
    form.find_element("name", "image").send_keys("berth/busybox")
    form.find_element("name", "archive").send_keys(str(archive))
    form.find_element("css selector", "button[type=submit]").click()
    row = '[data-jisto="ui-jisto"]'
    wait_for(lambda: driver.find_element("css selector", f'{row}[data-state="Created"]'),
             "the Jisto job created")
    driver.find_element("css selector", f"{row} td.actions button").click()  # Run
    wait_for(lambda: driver.find_element("css selector", f'{row}[data-state="Finished"]'),
             "the Jisto job finished", 90)
    assert driver.find_element("css selector", f"{row} progress").get_attribute("value") == "100"
    checked(driver, "jobs-jisto")
