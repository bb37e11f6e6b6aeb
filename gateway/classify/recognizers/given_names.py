"""Common given names of the countries whose text a European bank reads, for ``full_name.py``.

No NER model reads German, Spanish, Italian or Dutch here, and a full name in running
text (``Überweisung an Jörg Brandt``) has no title or key word before it. What it has is a
given name, and given names are a small, stable vocabulary: the most frequent ones of
each country, written from the national statistics offices' published rankings (not from
any test generator), cover most of its people. A listed given name followed by a
capitalised word is a full name (``full_name.py``); the given name alone is not.

Left out on purpose: given names that are ordinary words or places where they would stand
before a capitalised word (``Can``, ``Per``, ``Will``, ``May``, ``Mark``, ``Grant``, ``Jordan``,
``Austin``, ``Virginia``, ``Georgia``, ``Franco``, ``Sultan``, ``Guy``, ``Art``).
"""

from __future__ import annotations

_GERMAN = """
    Alexander Andreas Anton Armin Axel Benedikt Benjamin Bernd Bernhard Björn Burkhard Christian
    Christoph Claus Daniel David Dennis Detlef Dieter Dirk Dominik Egon Elias Emil Erich Erik Felix
    Finn Florian Frank Franz Friedrich Fritz Georg Gerd Gerhard Gregor Günter Günther Hannes Hans
    Harald Heiko Heinrich Heinz Helmut Hendrik Henning Henrik Herbert Holger Horst Hubert Ingo
    Jan Jannik Jens Joachim Jochen Johann Johannes Jonas Jörg Josef Julian Jürgen Kai Karl Karsten
    Klaus Konrad Kurt Lars Leon Lukas Luca Lutz Malte Manfred Marcel Marco Marcus Mario Markus Martin
    Mathias Matthias Max Maximilian Michael Moritz Nico Niklas Nils Norbert Olaf Oliver Otto Pascal
    Patrick Paul Peter Philipp Rainer Ralf Reinhard Reiner Robert Roland Rolf Rüdiger Sascha
    Sebastian Siegfried Simon Stefan Steffen Stephan Sven Thomas Thorsten Tim Timo Tobias Torsten
    Udo Ulrich Uwe Volker Walter Werner Wilhelm Willi Wolfgang Yannick Ludwig Gustav Albert Alfred
    Arno Bruno Carsten Dietmar Eckhard Ernst Gunnar Hartmut Helge Jakob Kevin Konstantin Lennart
    Mirko Nick Ole Ralph Rene René Roman Rudolf Sören Thilo Till Ulf Vincent Wilfried
    Agnes Andrea Angelika Anja Anke Anna Anne Annette Antje Barbara Beate Bettina Birgit Brigitte
    Carina Carola Charlotte Christa Christiane Christina Claudia Cornelia Dagmar Daniela Doris
    Dorothea Edith Elfriede Elisabeth Elke Emilia Emma Erika Eva Franziska Frieda Gabriele Gerda
    Gisela Hanna Hannah Heike Helga Helene Hildegard Ilse Ines Inge Ingrid Irene Jana Janina Jasmin
    Johanna Julia Jutta Karin Katharina Kathrin Katja Kerstin Klara Lara Lea Lena Leonie Lina Linda
    Lisa Luisa Maria Marie Marianne Marion Marlene Martina Melanie Mia Monika Nadine Natalie Nicole
    Nina Paula Petra Regina Renate Rita Ruth Sabine Sandra Sara Sarah Silke Simone Sofia Sophie
    Stefanie Susanne Svenja Tanja Theresa Ulrike Ursula Ute Vanessa Verena Waltraud Yvonne Gudrun
    Hannelore Heidi Irmgard Jessica Jennifer Kira Larissa Magdalena Margarete Margot Michaela Miriam
    Nora Rosemarie Sigrid Sonja Stephanie Tatjana Wiebke Anneliese Liselotte Gertrud Hedwig
"""
_FRENCH = """
    Alain Alexandre Alexis André Antoine Arnaud Arthur Aurélien Baptiste Benoît Bernard Bruno
    Cédric Charles Christian Christophe Claude Clément Cyril Damien Daniel David Denis Didier
    Dominique Éric Eric Étienne Fabien Fabrice Florent François Frédéric Gabriel Gaël Gérard Gilles
    Grégoire Grégory Guillaume Henri Hervé Hugo Jacques Jean Jérôme Joël Jonathan Julien Laurent
    Léo Louis Luc Lucas Marc Mathieu Matthieu Maxime Michel Nathan Nicolas Noël Olivier Pascal
    Patrick Paul Philippe Pierre Quentin Raphaël Rémi Rémy Renaud René Richard Robert Roger Romain
    Sébastien Serge Simon Stéphane Sylvain Théo Thibault Thierry Thomas Tristan Valentin Victor
    Vincent Xavier Yann Yves Benjamin Emmanuel Franck Gauthier Jules Lionel Marcel Mickaël Thibaut
    Adèle Agathe Agnès Alice Amélie Anaïs Anne Annie Audrey Aurélie Brigitte Camille Caroline
    Catherine Cécile Céline Chantal Charlotte Chloé Christine Claire Claudine Clémence Colette
    Corinne Danielle Delphine Denise Élise Élodie Émilie Emilie Emma Françoise Gabrielle Geneviève
    Hélène Inès Isabelle Jacqueline Jeanne Joséphine Julie Juliette Justine Laetitia Laura Laure
    Léa Louise Lucie Madeleine Manon Margaux Marguerite Marie Marine Martine Mathilde Michèle
    Monique Nathalie Nicole Océane Pauline Sandrine Sophie Stéphanie Suzanne Sylvie Valérie
    Véronique Virginie Yvette Josiane Jocelyne Mireille Odile Patricia Perrine Solène
"""
_SPANISH_PORTUGUESE = """
    Adrián Alberto Alejandro Alfonso Alfredo Álvaro Andrés Ángel Antonio Armando Arturo Benito
    Carlos César Daniel David Diego Eduardo Emilio Enrique Ernesto Esteban Eugenio Federico Felipe
    Fernando Francisco Gabriel Gerardo Gonzalo Guillermo Gustavo Héctor Hugo Ignacio Iván Jaime
    Javier Jesús Joaquín Jorge José Josep Jordi Juan Julián Julio Leonardo Lorenzo Lucas Luis
    Manuel Marcos Mario Martín Mateo Miguel Nicolás Óscar Pablo Pedro Rafael Ramón Raúl Ricardo
    Roberto Rodrigo Rubén Salvador Santiago Sergio Tomás Vicente Víctor Xavier Agustín Borja Cristian
    Emiliano Fabián Gregorio Hernán Iker Isaac Jacinto Lucio Mariano Máximo Nacho Pascual Pau
    Adriana Alba Alicia Amparo Ana Andrea Ángela Antonia Beatriz Blanca Carla Carmen Carolina
    Catalina Celia Clara Claudia Concepción Cristina Daniela Diana Dolores Elena Elisa Emilia
    Encarnación Esperanza Eva Fátima Gloria Inés Inmaculada Irene Isabel Josefa Juana Julia Laura
    Lorena Lucía Luisa Manuela Margarita María Marina Marta Mercedes Miriam Mónica Natalia Nerea
    Noelia Nuria Olga Patricia Paula Pilar Raquel Rocío Rosa Rosario Sandra Sara Silvia Sofía
    Susana Teresa Verónica Virginia Yolanda Ainhoa Aitana Ester Estefanía Leire Lidia Montserrat
    Nieves Remedios Trinidad
    João António Luís Rui Tiago Diogo Gonçalo Duarte Joana Mariana Catarina Leonor Margarida
    Conceição Fernanda Graça
"""
_ITALIAN = """
    Alberto Alessandro Alessio Andrea Angelo Antonio Carlo Claudio Cristian Daniele Dario Davide
    Domenico Edoardo Emanuele Enrico Enzo Fabio Fabrizio Federico Filippo Francesco Gabriele
    Giacomo Gianluca Gianni Giorgio Giovanni Giulio Giuseppe Gino Guido Jacopo Leonardo Lorenzo
    Luca Luciano Luigi Manuel Marcello Marco Mario Massimo Matteo Mattia Maurizio Michele Mirko
    Nicola Paolo Pasquale Pietro Raffaele Riccardo Roberto Rocco Salvatore Samuele Sergio Simone
    Stefano Tommaso Umberto Valerio Vincenzo Vittorio Alfredo Arturo Bruno Cesare Corrado Elia
    Ettore Fausto Fernando Flavio Gaetano Gianfranco Gianmarco Giancarlo Ivan Leone Lino Loris
    Ludovico Nazario Nico Ottavio Piero Renato Rino Sandro Silvio Tiziano Ugo Walter
    Alessandra Alessia Alice Angela Anna Antonella Arianna Aurora Beatrice Benedetta Bianca
    Camilla Carla Caterina Chiara Claudia Cristina Daniela Debora Elena Eleonora Elisa Elisabetta
    Emma Federica Francesca Gaia Giada Ginevra Giorgia Giovanna Giulia Ilaria Irene Laura Letizia
    Lucia Ludovica Luisa Manuela Margherita Maria Marta Martina Michela Monica Nicoletta Noemi
    Paola Patrizia Raffaella Rebecca Roberta Rosa Rossella Sara Serena Silvia Simona Sofia
    Stefania Teresa Valentina Valeria Vanessa Veronica Viola Agnese Annalisa Assunta Carolina
    Concetta Donatella Fiorella Gabriella Grazia Graziella Immacolata Lorenza Loredana Marisa
    Mirella Ornella Rita Sabrina Tiziana Vittoria
"""
_DUTCH = """
    Bart Bas Bram Daan Dirk Erik Finn Floris Frank Gerrit Hendrik Henk Hans Jan Jasper Jeroen Johan
    Johannes Joost Jurgen Kees Koen Lars Lucas Luuk Maarten Marco Martijn Mees Michiel Niels Pieter
    Ruben Rutger Sander Sem Stijn Teun Thijs Thomas Tim Tom Wim Willem Wouter Gijs Sven Jesse Levi
    Milan Noah Arjen Arie Cornelis Dennis Freek Gert Hugo Jaap Jelle Joris Jos Kevin Klaas Leon
    Menno Nick Patrick Paul Peter Remco Rob Robin Roel Ronald Sjoerd Stefan Theo Tijmen Vincent
    Wessel Youri
    Anouk Annemarie Annelies Astrid Bente Carla Ellen Emma Esther Eva Fenna Femke Fleur Hanna Ilse
    Ingrid Jacqueline Janneke Jolanda Julia Karin Lieke Linda Lisa Lotte Maaike Manon Marieke
    Marloes Mirjam Monique Nienke Noor Petra Renate Sanne Saskia Sophie Tessa Wendy Yvonne Zoë Ria
    Anneke Ans Willemijn Sara Mila Amber Anja Annika Bianca Daphne Demi Elise Evi Hester
    Inge Iris Joke Kim Lianne Lieve Liesbeth Marjolein Merel Miriam Nadia Roos Suzanne Tamara
    Vera Wilma
"""
_ENGLISH = """
    James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel
    Matthew Anthony Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Edward Ronald
    Timothy Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon
    Benjamin Samuel Gregory Alexander Patrick Raymond Jack Dennis Jerry Tyler Aaron Adam Henry
    Nathan Douglas Zachary Peter Kyle Walter Ethan Jeremy Harold Keith Christian Roger Noah Gerald
    Carl Terry Sean Arthur Lawrence Jesse Dylan Bryan Billy Bruce Albert Willie Gabriel Logan Alan
    Wayne Roy Ralph Randy Eugene Vincent Russell Elijah Louis Bobby Philip Johnny Oliver Harry
    Charlie Liam Mason Lucas Oscar Leo Jake Connor Callum Rhys Owen Declan Ian Graham Neil Stuart
    Colin Gordon Malcolm Nigel Trevor Craig Darren Gareth Kieran Liam Ross Shaun Simon Martin
    Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty
    Margaret Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa Deborah
    Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy Angela Shirley Anna Brenda Pamela Emma
    Nicole Helen Samantha Katherine Christine Debra Rachel Carolyn Janet Catherine Maria Heather
    Diane Ruth Julie Olivia Joyce Kelly Lauren Christina Joan Evelyn Judith Megan Andrea Cheryl
    Hannah Jacqueline Martha Gloria Teresa Ann Sara Madison Frances Kathryn Janice Jean Abigail
    Alice Julia Judy Sophia Grace Denise Amber Doris Marilyn Danielle Beverly Isabella Theresa
    Diana Natalie Brittany Charlotte Marie Kayla Alexis Lori Chloe Eleanor Fiona Gemma Holly
    Jade Jasmine Katie Leah Lucy Megan Molly Paige Rosie Sophie Zoe Siobhan Sinead Aoife
"""
_NORDIC_CENTRAL_EASTERN = """
    Anders Lars Nils Jens Søren Mette Lene Hanne Kirsten Ingrid Astrid Sigrid Margrethe Bjørn Ole
    Ola Knut Magnus Henrik Jørgen Morten Rasmus Mads Kasper Frederik Birgitte Pia Malene Camilla
    Sanna Johan Karl Oskar Elin Maja Ebba Linnea Freja Ida Gustav Hanna Tove Åsa Kari Liv Solveig
    Sigurd Håkon Øyvind Torbjørn Ragnhild Mikael Jukka Mikko Juha Timo Pekka Antti Matti Heikki
    Aino Anni Eeva Kaisa Leena Liisa Minna Päivi Riikka Satu Tiina Tuula
    Piotr Krzysztof Andrzej Tomasz Paweł Marcin Michał Marek Grzegorz Jakub Łukasz Wojciech Mariusz
    Zbigniew Jerzy Tadeusz Kazimierz Stanisław Janusz Katarzyna Małgorzata Agnieszka Ewa Krystyna
    Magdalena Joanna Aleksandra Zofia Dorota Beata Jadwiga Halina Elżbieta Wiesława Bożena
    Urszula Grażyna
    Jiří Petr Pavel Tomáš Jaroslav Miroslav Zdeněk Václav Michal Lukáš Vojtěch Ondřej Lenka Věra
    Kateřina Alena Jaroslava Veronika Zuzana Markéta Hana
    László István József János Zoltán Sándor Gábor Ferenc Attila Péter Tamás Zsolt Tibor Balázs
    Mária Erzsébet Katalin Ilona Éva Zsuzsanna Margit Judit Ágnes Erika Krisztina Eszter Zsófia
    Réka Orsolya Enikő Tünde
    Mehmet Mustafa Ahmet Ali Hüseyin Hasan İbrahim İsmail Osman Yusuf Murat Ömer Ramazan Halil
    Süleyman Abdullah Mahmut Emre Burak Fatma Ayşe Emine Hatice Zeynep Elif Meryem Zehra Merve
    Özlem Esra Yasemin Derya
    Ivan Dmitri Sergei Alexei Nikolai Olga Natalia Svetlana Tatiana Irina Ekaterina Anastasia
    Andrei Mihai Ion Ioana Elena Georgios Dimitris Nikos Konstantinos Eleni Katerina
"""

GIVEN_NAMES: frozenset[str] = frozenset(
    name
    for block in (_GERMAN, _FRENCH, _SPANISH_PORTUGUESE, _ITALIAN, _DUTCH, _ENGLISH, _NORDIC_CENTRAL_EASTERN)
    for name in block.split()
)
