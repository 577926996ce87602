#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""The all-in-one's dashboard (Horizon with zun-ui) in a real browser.

Debian's ``chromium`` through its ``chromedriver`` (tools/bootstrap
installs both; nothing is downloaded at run time), headless, with a fresh
profile. The machine's network may be closed: without the flags below
Chromium waits on connections of its own (updates, sync, QUIC).
"""

import os
import shutil
import tempfile
import time

from selenium.common import exceptions as selenium_exceptions
from selenium import webdriver
from selenium.webdriver.chrome import service as chrome_service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import ui

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
         '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync',
         '--disable-dev-shm-usage', '--window-size=1400,1000')
# Where screenshots of a failed walk go (one directory per walk).
ARTIFACTS = os.environ.get('NOVA_ZUN_ARTIFACTS',
                           '/tmp/nova-zun-artifacts')


class Browser:
    """A headless Chromium on ``url``, a screenshot after every step.

    The screenshots are kept in memory; ``save`` writes them (and the page
    it is on, and the browser's console) when a walk fails.
    """

    def __init__(self, url, timeout=60):
        self.url = url.rstrip('/')
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix='nova-zun-chromium-')
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS + ('--user-data-dir=%s' % self.profile,):
            options.add_argument(flag)
        options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
        self.driver = webdriver.Chrome(
            service=chrome_service.Service(CHROMEDRIVER), options=options)
        self.shots = []

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def shot(self, name):
        self.shots.append((name, self.driver.get_screenshot_as_png()))

    def save(self, why):
        """Write the screenshots, the page and the console; the directory."""
        directory = tempfile.mkdtemp(
            prefix='dashboard-%s-' % time.strftime('%Y%m%dT%H%M%S'),
            dir=_artifacts())
        self.shot('failed')
        for number, (name, png) in enumerate(self.shots):
            with open(os.path.join(directory, '%02d-%s.png'
                                   % (number, name)), 'wb') as f:
                f.write(png)
        with open(os.path.join(directory, 'page.html'), 'w') as f:
            f.write(self.driver.page_source)
        with open(os.path.join(directory, 'console.log'), 'w') as f:
            f.write('%s\n%s\n' % (why, self.driver.current_url))
            for entry in self.driver.get_log('browser'):
                f.write('%(level)s %(message)s\n' % entry)
        return directory

    # -- finding and waiting --------------------------------------------------

    def wait(self, condition, what, timeout=None):
        try:
            return ui.WebDriverWait(
                self.driver, timeout or self.timeout, 0.5,
                ignored_exceptions=(
                    selenium_exceptions.StaleElementReferenceException,)
            ).until(lambda driver: condition())
        except selenium_exceptions.TimeoutException:
            raise AssertionError('%s: not within %d s' % (
                what, timeout or self.timeout))

    def visible(self, css, text=None, within=None):
        """The first displayed element matching ``css`` (and ``text``)."""
        for element in (within or self.driver).find_elements(
                By.CSS_SELECTOR, css):
            try:
                if element.is_displayed() and (
                        text is None or text in element.text):
                    return element
            except selenium_exceptions.StaleElementReferenceException:
                continue
        return None

    def find(self, css, text=None, timeout=None, within=None):
        return self.wait(lambda: self.visible(css, text, within),
                         '%s%s' % (css, ' "%s"' % text if text else ''),
                         timeout)

    def click(self, css, text=None, timeout=None, within=None):
        """Click the first displayed, enabled match once there is one.

        Tables that refresh themselves replace their elements: a match
        gone meanwhile is looked for again.
        """
        def clicked():
            element = self.visible(css, text, within)
            if element is None or not element.is_enabled():
                return False
            self.driver.execute_script(
                'arguments[0].scrollIntoView({block: "center"});', element)
            element.click()
            return True
        self.wait(clicked, 'click %s%s' % (css, ' "%s"' % text if text
                                           else ''), timeout)

    def type(self, css, text, within=None):
        element = self.find(css, within=within)
        element.clear()
        element.send_keys(text)
        return element

    def open(self, path):
        self.driver.get(self.url + path)

    def text(self):
        return self.driver.find_element(By.TAG_NAME, 'body').text

    # -- Horizon --------------------------------------------------------------

    def login(self, username, password):
        self.driver.delete_all_cookies()
        self.open('/auth/login/')
        self.type('#id_username', username)
        self.type('#id_password', password + Keys.ENTER)
        self.wait(lambda: '/auth/login' not in self.driver.current_url,
                  'logged in as %s' % username)
        self.shot('logged-in-%s' % username)


def _artifacts():
    os.makedirs(ARTIFACTS, exist_ok=True)
    return ARTIFACTS


class Dashboard(Browser):
    """Horizon's pages and zun-ui's panels, step by step."""

    def step(self, title):
        """Click the wizard's step ``title`` (its navigation on the left)."""
        self.click('.modal .wizard-nav a, .modal .nav a', text=title)

    def allocate(self, name):
        """Move the row of ``name`` up into a transfer table's allocation."""
        def row():
            for tr in self.driver.find_elements(By.CSS_SELECTOR,
                                                '.modal tr'):
                if tr.is_displayed() and name in tr.text:
                    buttons = [b for b in tr.find_elements(
                        By.CSS_SELECTOR, 'button.fa-arrow-up')
                        if b.is_displayed()]
                    if buttons:
                        return buttons[0]
            return None
        self.wait(row, 'the row of %s to allocate' % name).click()

    def launch_instance(self, name, image, flavor, network):
        """Project > Compute > Instances > Launch Instance."""
        self.open('/project/instances/')
        self.click('#instances__action_launch-ng')
        self.type('.modal #name', name)
        self.shot('launch-details')
        self.step('Source')
        self.allocate(image)
        self.shot('launch-source')
        self.step('Flavor')
        self.allocate(flavor)
        self.shot('launch-flavor')
        self.step('Networks')
        self.shot('launch-networks')
        self.allocate(network)
        self.click('.modal button.finish')
        self.wait(lambda: not self.visible('.modal-dialog'),
                  'the launch dialog closed')
        self.shot('launched')

    def offers_network(self, name):
        """Whether Launch Instance's Networks step offers ``name``.

        Horizon launches no instance without a network or a port (the step
        asks for one at least).
        """
        self.open('/project/instances/')
        self.click('#instances__action_launch-ng')
        self.step('Networks')
        self.find('.modal tr')
        time.sleep(2)  # the networks' list comes from Neutron
        offered = bool(self.visible('.modal tr', name))
        self.shot('networks-offered' if offered else 'no-network-offered')
        self.click('.modal button.btn-default.pull-left')  # Cancel
        self.wait(lambda: not self.visible('.modal-dialog'),
                  'the launch dialog closed')
        return offered

    def instance_log(self, name, expected, timeout=300):
        """Instance ``name`` goes Active; its Log tab shows ``expected``."""
        self.open('/project/instances/')

        def active():
            row = self.visible('#instances tbody tr', name)
            if row and 'Error' in row.text:
                raise AssertionError('%s: %s' % (name, row.text))
            return row if row and 'Active' in row.text and \
                'Running' in row.text else None
        self.wait(active, 'instance %s Active' % name, timeout)
        self.shot('instance-active')
        self.click('#instances tbody tr a', text=name)
        self.click('a[data-target="#instance_details__log"]')
        self.wait(lambda: expected in self.find('pre.logs').text,
                  'the Log tab of %s showing "%s"' % (name, expected))
        self.shot('instance-log')

    # -- zun-ui ---------------------------------------------------------------

    def create_container(self, name, image, command):
        """Project > Container > Containers > Create Container.

        The image is Glance's (the Docker Hub driver gets 400: doc/
        native-api.rst); zun-ui makes it interactive by default.
        """
        self.open('/project/container/containers')
        self.click('button', text='Create Container')
        self.type('.modal input[placeholder^="Name of the container"]', name)
        self.type('.modal input[placeholder^="Name or ID of the container '
                  'image"]', image)
        ui.Select(self.find('.modal select')).select_by_visible_text(
            'Glance')
        self.type('.modal input[placeholder^="A command"]', command)
        self.shot('container-create')
        self.click('.modal button.btn-primary', text='Create')
        self.wait(lambda: not self.visible('.modal-dialog'),
                  'the create dialog closed')

    def container_row(self, name, status, timeout=180):
        """The Containers panel's row of ``name`` once it shows ``status``."""
        def row():
            found = self.visible('hz-resource-table tbody tr', name)
            if found and status in found.text:
                return found
            # The panel shows what it listed; a row in transition has its
            # actions (Refresh too) disabled: list again.
            time.sleep(2)
            self.open('/project/container/containers')
            self.find('hz-resource-table tbody tr')
            return None
        found = self.wait(row, 'container %s %s' % (name, status), timeout)
        self.shot('container-%s' % status.lower())
        return found

    def container_action(self, name, action):
        """Pick ``action`` in the actions menu of the row of ``name``."""
        self.open('/project/container/containers')
        self.click('hz-resource-table tbody tr .split-caret',
                   within=self.find('hz-resource-table tbody tr', name))
        self.click('ul.dropdown-menu a', text=action)

    def execute(self, name, command, expected):
        """Execute Command: ``expected`` is in the output it shows."""
        self.container_action(name, 'Execute Command')
        self.type('.modal input[placeholder="The command to execute."]',
                  command)
        self.click('.modal button.btn-primary', text='Execute')
        self.wait(lambda: expected in (self.find('.modal textarea')
                                       .get_attribute('value') or ''),
                  'the output of %s' % command)
        self.shot('container-executed')
        self.click('.modal button.btn-default', text='Cancel')

    def console_echo(self, name, line):
        """``line`` typed into ``name``'s Console tab comes back (``cat``)."""
        self.open('/project/container/containers')
        self.click('hz-resource-table tbody tr a', text=name)
        self.click('.nav-tabs a, ul.nav a', text='Console')
        frame = self.find('iframe#console_embed')
        self.driver.switch_to.frame(frame)
        try:
            self.wait(lambda: 'Open' in self.text(), 'the console open')
            self.click('.terminal')
            webdriver.ActionChains(self.driver).send_keys(
                line + Keys.ENTER).perform()
            # Twice: the terminal's echo, then what ``cat`` wrote back.
            self.wait(lambda: self.find('.terminal').text.count(line) >= 2,
                      'the console echoing "%s"' % line)
        finally:
            self.driver.switch_to.default_content()
        self.shot('container-console')

    def stop_container(self, name):
        self.container_action(name, 'Stop Container')
        self.click('.modal button.btn-primary', text='Stop')
        self.container_row(name, 'Stopped')

    def delete_container(self, name):
        self.container_action(name, 'Delete Container')
        self.click('.modal button.btn-danger, .modal button.btn-primary',
                   text='Delete')

        def gone():
            self.open('/project/container/containers')
            self.find('hz-resource-table tbody tr')
            return not self.visible('hz-resource-table tbody tr', name)
        self.wait(gone, 'container %s gone' % name, 180)
        self.shot('container-deleted')
