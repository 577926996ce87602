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

"""Figures, percentiles and the report."""

import json
import math


def percentile(samples, pct):
    """The ``pct`` percentile of ``samples`` (nearest rank).

    p50 of an even count is the mean of the two middle values.
    """
    if not samples:
        raise ValueError('no samples')
    ordered = sorted(samples)
    if pct == 50:
        mid = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[mid]
        return (ordered[mid - 1] + ordered[mid]) / 2.0
    rank = max(1, int(math.ceil(pct / 100.0 * len(ordered))))
    return ordered[rank - 1]


class Report:
    """Figures in the order they were measured, and the raw samples."""

    def __init__(self):
        self.figures = []
        self.samples = {}
        self.meta = {}
        self.errors = []

    def add(self, name, value, unit):
        self.figures.append({'name': name, 'value': value, 'unit': unit})

    def ratio(self, name, value, baseline):
        self.add(name, value / baseline if baseline else float('nan'),
                 'ratio')

    def compare(self, name, samples, baseline, labels):
        """Record the samples' p50 and p95 against the baseline's.

        ``name_p50`` and ``name_p95`` are the ratios of the samples'
        percentiles to the baseline's; both percentiles are also recorded in
        seconds, named by ``labels`` (the samples', the baseline's).
        """
        group = name.split('/')[0]
        for pct in (50, 95):
            self.ratio('%s_p%d' % (name, pct), percentile(samples, pct),
                       percentile(baseline, pct))
        for label, values in zip(labels, (samples, baseline)):
            for pct in (50, 95):
                self.add('%s/%s_p%d' % (group, label, pct),
                         percentile(values, pct), 's')

    def keep(self, name, samples):
        self.samples[name] = list(samples)

    def lines(self):
        for fig in self.figures:
            value = fig['value']
            if isinstance(value, float):
                text = '%.3f' % value if abs(value) < 100 else '%.1f' % value
            else:
                text = str(value)
            yield '%s %s %s' % (fig['name'], text, fig['unit'])

    def to_json(self):
        return json.dumps({'figures': self.figures, 'samples': self.samples,
                           'meta': self.meta, 'errors': self.errors},
                          indent=2, sort_keys=True, default=str)
