import unittest

from stats import mean, median, percentile, summarize


class MeanTest(unittest.TestCase):
    def test_mean(self):
        self.assertEqual(mean([1, 2, 3, 4]), 2.5)

    def test_empty(self):
        with self.assertRaises(ValueError):
            mean([])


class MedianTest(unittest.TestCase):
    def test_odd_length(self):
        self.assertEqual(median([5, 1, 3]), 3)

    def test_even_length(self):
        self.assertEqual(median([4, 1, 3, 2]), 2.5)

    def test_two_values(self):
        self.assertEqual(median([10, 20]), 15)


class PercentileTest(unittest.TestCase):
    def test_bounds(self):
        self.assertEqual(percentile([3, 1, 2], 100), 3)
        self.assertEqual(percentile([3, 1, 2], 0), 1)

    def test_middle(self):
        self.assertEqual(percentile([15, 20, 35, 40, 50], 40), 20)


class SummarizeTest(unittest.TestCase):
    def test_summary(self):
        self.assertEqual(summarize([1, 2, 3, 4]), {"mean": 2.5, "median": 2.5, "min": 1, "max": 4})


if __name__ == "__main__":
    unittest.main()
