"""The family of functions the default model learns to repair.

Each template is a small, self-contained Python function written with its bug sites marked
inline as «correct|buggy|kind»: the correct source keeps `correct`, a planted bug replaces
one site by `buggy`. `names` are the function's possible names (the last one is held out for
the evaluation set), `calls` are argument lists whose results become the tests' expected
values (computed by running the correct function, never written by hand).

Kinds: operator, off_by_one, comparison, constant, swapped_args, missing_return, variable.
"""

TEMPLATES = [
    dict(names=["median", "middle_value", "median_of"], doc="Middle value of the sorted list (mean of the two middle values for even lengths).",
         src='''def {name}(values):
    """{doc}"""
    if not values:
        raise ValueError("{name} of an empty list")
    ordered = sorted(values)
    mid = len(ordered) «//|/|operator» 2
    if len(ordered) % 2 == «1|0|constant»:
        return ordered[mid]
    return («ordered[mid - 1] + ordered[mid]|ordered[mid] + ordered[mid + 1]|off_by_one») / 2
''', calls=["[5, 1, 3]", "[4, 1, 3, 2]", "[10, 20]", "[7]"]),
    dict(names=["mean", "average", "arithmetic_mean"], doc="Arithmetic mean of a non-empty list.",
         src='''def {name}(values):
    """{doc}"""
    total = 0
    for v in values:
        total «+=|-=|operator» v
    return total / «len(values)|len(values) - 1|off_by_one»
''', calls=["[1, 2, 3, 4]", "[10]", "[2, 4, 9]"]),
    dict(names=["clamp", "limit", "bound_value"], doc="The value limited to the range [low, high].",
         src='''def {name}(value, low, high):
    """{doc}"""
    if value «<|>|comparison» low:
        return low
    if value «>|<|comparison» high:
        return «high|low|variable»
    return value
''', calls=["5, 0, 10", "-3, 0, 10", "42, 0, 10", "0, 0, 10"]),
    dict(names=["factorial", "fact", "product_up_to"], doc="n! for n >= 0.",
         src='''def {name}(n):
    """{doc}"""
    result = «1|0|constant»
    for i in range(2, n «+ 1|- 1|off_by_one»):
        result «*=|+=|operator» i
    return result
''', calls=["0", "1", "5", "6"]),
    dict(names=["fibonacci", "fib", "nth_fibonacci"], doc="The n-th Fibonacci number, fib(0) = 0.",
         src='''def {name}(n):
    """{doc}"""
    a, b = 0, «1|2|constant»
    for _ in range(n):
        a, b = b, «a + b|a * b|operator»
    return «a|b|variable»
''', calls=["0", "1", "2", "7", "10"]),
    dict(names=["is_prime", "prime", "check_prime"], doc="True if n is a prime number.",
         src='''def {name}(n):
    """{doc}"""
    if n «<|<=|comparison» 2:
        return False
    i = 2
    while i * i «<=|<|comparison» n:
        if n % i == 0:
            return «False|True|constant»
        i += 1
    return True
''', calls=["1", "2", "9", "13", "25", "29"]),
    dict(names=["count_vowels", "vowel_count", "number_of_vowels"], doc="How many vowels (a, e, i, o, u) the text has, ignoring case.",
         src='''def {name}(text):
    """{doc}"""
    count = 0
    for ch in text«.lower()|.upper()|variable»:
        if ch «in|not in|comparison» "aeiou":
            count += 1
    return count
''', calls=["'Hello World'", "'AEIOU'", "'rhythm'", "'Banana'"]),
    dict(names=["reverse_words", "words_reversed", "flip_words"], doc="The words of the sentence in reverse order, joined by single spaces.",
         src='''def {name}(sentence):
    """{doc}"""
    words = sentence.split()
    return " ".join(words[«::-1|::1|constant»])
''', calls=["'one two three'", "'hello'", "'a b'"]),
    dict(names=["maximum", "largest", "max_value"], doc="The largest element of a non-empty list.",
         src='''def {name}(values):
    """{doc}"""
    best = values[«0|1|off_by_one»]
    for v in values:
        if v «>|<|comparison» best:
            best = v
    return best
''', calls=["[3, 9, 2]", "[-5, -1, -7]", "[4]", "[1, 2, 8, 8]"]),
    dict(names=["minimum", "smallest", "min_value"], doc="The smallest element of a non-empty list.",
         src='''def {name}(values):
    """{doc}"""
    best = values[0]
    for v in values[«1:|2:|off_by_one»]:
        if v «<|>|comparison» best:
            best = «v|best|variable»
    return best
''', calls=["[3, 9, 2]", "[-5, -1, -7]", "[4]", "[6, 1, 5]"]),
    dict(names=["dot", "dot_product", "inner_product"], doc="Sum of the products of matching elements of two equal-length lists.",
         src='''def {name}(xs, ys):
    """{doc}"""
    total = 0
    for x, y in zip(xs, ys):
        total += x «*|+|operator» y
    return total
''', calls=["[1, 2, 3], [4, 5, 6]", "[2], [7]", "[1, -1], [3, 3]"]),
    dict(names=["power", "int_power", "raise_to"], doc="base raised to a non-negative integer exponent, by repeated multiplication.",
         src='''def {name}(base, exponent):
    """{doc}"""
    result = 1
    for _ in range(«exponent|exponent - 1|off_by_one»):
        result = result * «base|exponent|variable»
    return result
''', calls=["2, 10", "3, 0", "5, 3", "7, 1"]),
    dict(names=["count_words", "word_count", "number_of_words"], doc="How many whitespace-separated words the text has.",
         src='''def {name}(text):
    """{doc}"""
    return len(text.«split()|split(" ")|constant»)
''', calls=["'the quick  brown fox'", "''", "' padded  '"]),
    dict(names=["is_palindrome", "palindrome", "reads_same_backwards"], doc="True if the text reads the same forwards and backwards, ignoring case and spaces.",
         src='''def {name}(text):
    """{doc}"""
    cleaned = text.replace(" ", "").lower()
    return cleaned «==|!=|comparison» cleaned[«::-1|1:|constant»]
''', calls=["'Never odd or even'", "'abc'", "'a'", "'Abba'"]),
    dict(names=["sum_of_squares", "square_sum", "total_of_squares"], doc="Sum of the squares of the numbers from 1 to n.",
         src='''def {name}(n):
    """{doc}"""
    total = 0
    for i in range(1, n «+ 1|- 1|off_by_one»):
        total += i «* i|+ i|operator»
    return total
''', calls=["1", "3", "10"]),
    dict(names=["celsius_to_fahrenheit", "to_fahrenheit", "c_to_f"], doc="Temperature in degrees Fahrenheit for degrees Celsius.",
         src='''def {name}(celsius):
    """{doc}"""
    return celsius * 9 / 5 «+|-|operator» «32|23|constant»
''', calls=["0", "100", "-40", "37"]),
    dict(names=["gcd", "greatest_common_divisor", "common_divisor"], doc="Greatest common divisor of two non-negative integers (Euclid).",
         src='''def {name}(a, b):
    """{doc}"""
    while b «!=|==|comparison» 0:
        a, b = b, a «%|//|operator» b
    return «a|b|variable»
''', calls=["12, 18", "17, 5", "100, 10", "0, 9"]),
    dict(names=["count_positive", "positives", "number_of_positives"], doc="How many numbers in the list are greater than zero.",
         src='''def {name}(values):
    """{doc}"""
    count = 0
    for v in values:
        if v «>|>=|comparison» 0:
            count «+=|-=|operator» 1
    return count
''', calls=["[1, -2, 0, 5]", "[]", "[-1, -3]", "[0, 0, 4]"]),
    dict(names=["running_total", "cumulative_sum", "prefix_sums"], doc="The running totals of the list: element i is the sum of values[0..i].",
         src='''def {name}(values):
    """{doc}"""
    totals = []
    acc = 0
    for v in values:
        acc «+=|=|operator» v
        totals.append(«acc|v|variable»)
    return totals
''', calls=["[1, 2, 3]", "[5]", "[]", "[2, -2, 7]"]),
    dict(names=["capitalize_words", "title_words", "upper_first"], doc="Each word of the text with its first letter in upper case.",
         src='''def {name}(text):
    """{doc}"""
    words = []
    for word in text.split():
        words.append(word«[:1]|[1:]|off_by_one».upper() + word«[1:]|[2:]|off_by_one»)
    return " ".join(words)
''', calls=["'hello big world'", "'a'", "'python is fun'"]),
    dict(names=["average_of_pairs", "pair_means", "pairwise_average"], doc="The mean of each adjacent pair of the list.",
         src='''def {name}(values):
    """{doc}"""
    result = []
    for i in range(len(values) «- 1|+ 0|off_by_one»):
        result.append((values[i] + values[i + 1]) «/|*|operator» 2)
    return result
''', calls=["[1, 3, 5]", "[2, 2]", "[10, 0, 4, 8]"]),
    dict(names=["safe_divide", "divide_or_default", "checked_divide"], doc="a / b, or default when b is zero.",
         src='''def {name}(a, b, default):
    """{doc}"""
    if b «==|!=|comparison» 0:
        return default
    «return a / b|a / b|missing_return»
''', calls=["6, 3, 0", "1, 0, -1", "5, 2, None"]),
    dict(names=["last_element", "final_item", "tail_value"], doc="The last element of the list, or None for an empty list.",
         src='''def {name}(items):
    """{doc}"""
    if not items:
        return None
    return items[«-1|0|constant»]
''', calls=["[1, 2, 3]", "[]", "['x']"]),
    dict(names=["repeat_string", "repeat_text", "times_text"], doc="The text repeated count times, separated by sep.",
         src='''def {name}(text, count, sep):
    """{doc}"""
    return «sep.join([text] * count)|text.join([sep] * count)|swapped_args»
''', calls=["'ab', 3, '-'", "'x', 1, ','", "'hi', 2, ' '"]),
    dict(names=["distance", "manhattan_distance", "grid_distance"], doc="Manhattan distance between points (x1, y1) and (x2, y2).",
         src='''def {name}(x1, y1, x2, y2):
    """{doc}"""
    return abs(x1 «-|+|operator» x2) + abs(«y1|x1|variable» - y2)
''', calls=["0, 0, 3, 4", "1, 1, 1, 1", "-2, 5, 3, -1"]),
    dict(names=["subtract_lists", "list_difference", "elementwise_minus"], doc="Element-wise difference xs[i] - ys[i] of two equal-length lists.",
         src='''def {name}(xs, ys):
    """{doc}"""
    return «[x - y for x, y in zip(xs, ys)]|[y - x for x, y in zip(xs, ys)]|swapped_args»
''', calls=["[5, 7], [2, 3]", "[1], [4]", "[0, 0, 9], [1, 2, 3]"]),
    dict(names=["percent", "percentage", "as_percent"], doc="part as a percentage of whole, rounded to one decimal.",
         src='''def {name}(part, whole):
    """{doc}"""
    return round(«part / whole|whole / part|swapped_args» * «100|10|constant», 1)
''', calls=["1, 4", "3, 3", "2, 8"]),
    dict(names=["unique_sorted", "distinct_sorted", "sorted_unique"], doc="The distinct values of the list in ascending order.",
         src='''def {name}(values):
    """{doc}"""
    seen = []
    for v in sorted(values):
        if v «not in|in|comparison» seen:
            seen.append(v)
    «return seen|seen|missing_return»
''', calls=["[3, 1, 3, 2]", "[]", "[5, 5, 5]"]),
    dict(names=["even_numbers", "evens", "only_even"], doc="The even numbers of the list, in order.",
         src='''def {name}(values):
    """{doc}"""
    return [v for v in values if v % 2 «==|!=|comparison» «0|1|constant»]
''', calls=["[1, 2, 3, 4]", "[7, 9]", "[0, -2, 5]"]),
    dict(names=["string_length_sum", "total_length", "combined_length"], doc="Total number of characters in all the strings.",
         src='''def {name}(strings):
    """{doc}"""
    total = 0
    for s in strings:
        total += len(«s|strings|variable»)
    «return total|total|missing_return»
''', calls=["['ab', 'cde']", "[]", "['', 'x']"]),
    dict(names=["mean", "mean_value", "average_value"], doc="Arithmetic mean; raises ValueError for an empty list.",
         src='''def {name}(values):
    """{doc}"""
    if «not values|values|comparison»:
        raise ValueError("{name} of an empty list")
    return sum(values) / «len(values)|len(values) + 1|off_by_one»
''', calls=["[1, 2, 3, 4]", "[5]", "[2, 9]"]),
    dict(names=["percentile", "nearest_rank", "rank_percentile"], doc="Nearest-rank percentile, p in [0, 100].",
         src='''def {name}(values, p):
    """{doc}"""
    if not values:
        raise ValueError("{name} of an empty list")
    if not 0 <= p <= 100:
        raise ValueError("p must be in [0, 100]")
    ordered = sorted(values)
    rank = max(«1|0|constant», -(-p * len(ordered) // 100))
    return ordered[int(rank) «- 1|+ 1|off_by_one»]
''', calls=["[3, 1, 2], 100", "[3, 1, 2], 0", "[15, 20, 35, 40, 50], 40", "[7, 8], 50"]),
    dict(names=["count_occurrences", "occurrences", "times_present"], doc="How many items of the list equal target.",
         src='''def {name}(values, target):
    """{doc}"""
    count = 0
    for v in values:
        if v «==|!=|comparison» target:
            count «+=|-=|operator» 1
    return count
''', calls=["[1, 2, 1, 3], 1", "[], 5", "[4, 4], 4"]),
    dict(names=["index_of", "position_of", "find_index"], doc="Index of the first item equal to target, or -1.",
         src='''def {name}(values, target):
    """{doc}"""
    for i in range(len(values)):
        if values[i] == target:
            return «i|i + 1|off_by_one»
    return «-1|0|constant»
''', calls=["[5, 6, 7], 6", "[1], 2", "[3, 3], 3"]),
    dict(names=["sum_range", "sum_between", "inclusive_sum"], doc="Sum of the integers from lo to hi, both included.",
         src='''def {name}(lo, hi):
    """{doc}"""
    total = 0
    for i in range(lo, hi «+ 1|- 1|off_by_one»):
        total «+=|*=|operator» i
    return total
''', calls=["1, 4", "3, 3", "0, 10"]),
    dict(names=["average_length", "mean_word_length", "typical_length"], doc="Mean length of the words; 0.0 for none.",
         src='''def {name}(words):
    """{doc}"""
    if not words:
        return «0.0|1.0|constant»
    return sum(len(w) for w in words) / «len(words)|len(words) - 1|off_by_one»
''', calls=["['ab', 'abcd']", "[]", "['xyz']"]),
    dict(names=["is_sorted", "in_order", "ascending"], doc="True if every item is at most the next one.",
         src='''def {name}(values):
    """{doc}"""
    for i in range(len(values) - 1):
        if values[i] «>|<|comparison» values[i + 1]:
            return «False|True|constant»
    return True
''', calls=["[1, 2, 2, 5]", "[3, 1]", "[]", "[9]"]),
    dict(names=["clamp_all", "limit_all", "bounded_values"], doc="Each value limited to the range [lo, hi].",
         src='''def {name}(values, lo, hi):
    """{doc}"""
    return [min(max(v, «lo|hi|variable»), «hi|lo|variable») for v in values]
''', calls=["[-5, 5, 50], 0, 10", "[], 0, 1", "[3], 3, 3"]),
    dict(names=["digit_sum", "sum_of_digits", "cross_sum"], doc="Sum of the decimal digits of n >= 0.",
         src='''def {name}(n):
    """{doc}"""
    total = 0
    while n > «0|1|constant»:
        total += n «%|//|operator» 10
        n //= 10
    return total
''', calls=["123", "0", "9", "1000"]),
    dict(names=["count_char", "char_count", "letter_frequency"], doc="How many times ch occurs in text.",
         src='''def {name}(text, ch):
    """{doc}"""
    return sum(1 for c in text if c «==|!=|comparison» ch)
''', calls=["'banana', 'a'", "'', 'x'", "'aaa', 'a'"]),
    dict(names=["join_items", "comma_list", "as_csv_text"], doc="The items as text, separated by a comma and a space.",
         src='''def {name}(items):
    """{doc}"""
    return «', '|','|constant».join(str(item) for item in items)
''', calls=["[1, 2, 3]", "[]", "['a']"]),
    dict(names=["rectangle_area", "area", "box_area"], doc="width * height; ValueError for a negative side.",
         src='''def {name}(width, height):
    """{doc}"""
    if width «<|<=|comparison» 0 or height < 0:
        raise ValueError("negative side")
    return width «*|+|operator» height
''', calls=["3, 4", "0, 5", "2, 2"]),
    dict(names=["triangle_number", "triangular", "sum_to_n"], doc="1 + 2 + ... + n, for n >= 0.",
         src='''def {name}(n):
    """{doc}"""
    return n * (n «+|-|operator» 1) // «2|1|constant»
''', calls=["0", "1", "4", "10"]),
    dict(names=["first_negative", "leading_negative", "earliest_negative"], doc="The first value below zero, or None.",
         src='''def {name}(values):
    """{doc}"""
    for v in values:
        if v «<|>|comparison» 0:
            return v
    return «None|0|constant»
''', calls=["[3, -1, -5]", "[1, 2]", "[]"]),
    dict(names=["scale", "scaled", "multiply_all"], doc="Every value multiplied by factor.",
         src='''def {name}(values, factor):
    """{doc}"""
    return [v «*|+|operator» «factor|v|variable» for v in values]
''', calls=["[1, 2], 3", "[], 2", "[5], 1"]),
    dict(names=["max_gap", "largest_step", "widest_gap"], doc="The largest difference between an item and the one before it (0 for short lists).",
         src='''def {name}(values):
    """{doc}"""
    best = 0
    for i in range(1, len(values)):
        gap = values[i] «-|+|operator» values[«i - 1|i|off_by_one»]
        if gap «>|<|comparison» best:
            best = gap
    return best
''', calls=["[1, 4, 6, 13]", "[5]", "[2, 2, 3]"]),
    dict(names=["middle_char", "center_char", "central_letter"], doc="The character at index len(text) // 2, or '' for empty text.",
         src='''def {name}(text):
    """{doc}"""
    if not text:
        return «''|None|constant»
    return text[len(text) «//|-|operator» 2]
''', calls=["'abc'", "'abcdef'", "''"]),
    dict(names=["compound", "grow_amount", "compound_interest"], doc="principal after years of growth at rate, rounded to cents.",
         src='''def {name}(principal, rate, years):
    """{doc}"""
    amount = principal
    for _ in range(years):
        amount = amount * (1 «+|-|operator» rate)
    return round(amount, «2|1|constant»)
''', calls=["100, 0.05, 3", "50, 0.0, 3", "10, 0.5, 1"]),
    dict(names=["word_lengths", "lengths_of_words", "word_sizes"], doc="The length of each whitespace-separated word.",
         src='''def {name}(text):
    """{doc}"""
    return [len(w) for w in text.«split()|split(' ')|constant»]
''', calls=["'hello world'", "''", "'a  bb'"]),
    dict(names=["remove_value", "without", "drop_value"], doc="The list without the items equal to target.",
         src='''def {name}(values, target):
    """{doc}"""
    return [v for v in values if v «!=|==|comparison» target]
''', calls=["[1, 2, 1], 1", "[], 3", "[4], 5"]),
    dict(names=["ratio", "fraction_of", "share"], doc="part / whole, or 0.0 when whole is zero.",
         src='''def {name}(part, whole):
    """{doc}"""
    if whole «==|!=|comparison» 0:
        return 0.0
    return «part / whole|whole / part|swapped_args»
''', calls=["1, 4", "3, 0", "6, 3"]),
]
